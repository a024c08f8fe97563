using HepDb.Dashboard;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace HepDb.Pages;

public sealed class SignInModel(SignInManager<DashboardUser> signIn, IOptions<DashboardOptions> options) : PageModel
{
    [BindProperty] public string? Email { get; set; }
    [BindProperty] public string? Password { get; set; }
    [BindProperty(SupportsGet = true)] public string? ReturnUrl { get; set; }
    public string? Message { get; private set; }
    public bool SignUpAllowed => options.Value.AllowSignUp;

    public void OnGet() { }

    public async Task<IActionResult> OnPostAsync()
    {
        var result = await signIn.PasswordSignInAsync(Email?.Trim() ?? "", Password ?? "", isPersistent: true, lockoutOnFailure: true);
        if (result.Succeeded)
            return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/dashboard/database");
        Message = result.IsLockedOut
            ? "Too many failed attempts: this sign-in is locked for 15 minutes."
            : "Wrong email or password.";
        return Page();
    }
}
