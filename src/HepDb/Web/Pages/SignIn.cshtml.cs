using HepDb.Web.Users;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace HepDb.Web.Pages;

public sealed class SignInModel(SignInManager<DashboardUser> signIn, Api.FailedAuthentications failures, IOptions<DashboardOptions> options) : PageModel
{
    [BindProperty] public string? Email { get; set; }
    [BindProperty] public string? Password { get; set; }
    [BindProperty(SupportsGet = true)] public string? ReturnUrl { get; set; }
    public string? Message { get; private set; }
    public bool SignUpAllowed => options.Value.AllowSignUp;

    public void OnGet() { }

    public async Task<IActionResult> OnPostAsync()
    {
        // Per user, Identity locks out after 5 failures; per address, failures share the API's failed-authentication
        // budget, so guessing across many accounts from one place is slowed down too.
        var ip = Api.ClientAddress.Of(HttpContext);
        if (failures.Blocked(ip) is { } retryAfter)
        {
            Message = $"Too many failed sign-ins from your address. Try again in {Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))} s.";
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            return Page();
        }
        var result = await signIn.PasswordSignInAsync(Email?.Trim() ?? "", Password ?? "", isPersistent: true, lockoutOnFailure: true);
        if (result.Succeeded)
            return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/dashboard/database");
        failures.Record(ip);
        Message = result.IsLockedOut
            ? "Too many failed attempts: this sign-in is locked for 15 minutes."
            : "Wrong email or password.";
        return Page();
    }
}
