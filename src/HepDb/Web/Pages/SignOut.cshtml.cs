using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;

namespace HepDb.Web.Pages;

public sealed class SignOutModel : PageModel
{
    public void OnGet() { }

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(IdentityConstants.ApplicationScheme);
        return LocalRedirect("/sign-in");
    }
}
