using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Dashboard;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace HepDb.Pages;

public sealed class SignUpModel(DashboardUsers users, SignInManager<DashboardUser> signIn, IOptions<DashboardOptions> options) : PageModel
{
    [BindProperty] public string? Email { get; set; }
    [BindProperty] public string? Password { get; set; }
    public IReadOnlyList<string> Errors { get; private set; } = [];
    public bool Allowed => options.Value.AllowSignUp;

    public void OnGet() { }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (!Allowed) return NotFound();
        var (user, errors) = await users.SignUpAsync(Email, Password, Tiers.Free, Actor.SignUp(Api.ClientAddress.Of(HttpContext)), ct);
        if (user is null)
        {
            Errors = errors;
            return Page();
        }
        await signIn.SignInAsync(user, isPersistent: true);
        return LocalRedirect("/dashboard/database");
    }
}
