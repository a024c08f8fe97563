using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Web.Users;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace HepDb.Web.Pages;

public sealed class SignUpModel(DashboardUsers users, SignInManager<DashboardUser> signIn, IOptions<DashboardOptions> options) : PageModel
{
    [BindProperty] public string? Email { get; set; }
    [BindProperty] public string? Password { get; set; }
    public string? Error { get; private set; }
    public bool Allowed => options.Value.AllowSignUp;

    public void OnGet() { }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!Allowed) return NotFound();
        var user = await users.SignUpAsync(Email, Password, Tier.Free.WireName(), Actor.SignUp(Api.ClientAddress.Of(HttpContext)), ct);
        if (!user.Ok)
        {
            Error = user.Problem!.Message;
            return Page();
        }
        await signIn.SignInAsync(user.Value!, isPersistent: true);
        return LocalRedirect("/dashboard/database");
    }
}
