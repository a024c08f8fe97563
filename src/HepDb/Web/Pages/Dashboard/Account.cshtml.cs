using HepDb.Web.Users;
using Microsoft.AspNetCore.Identity;

namespace HepDb.Web.Pages.Dashboard;

/// <summary>The signed-in user's own settings: their account at a glance and a password change.</summary>
public sealed class AccountModel(DashboardUsers users, SignInManager<DashboardUser> signIn) : DashboardPage
{
    [BindProperty] public string? CurrentPassword { get; set; }
    [BindProperty] public string? NewPassword { get; set; }

    public void OnGet() { }

    public async Task<IActionResult> OnPostPasswordAsync(CancellationToken ct)
    {
        var changed = await users.ChangePasswordAsync(CurrentUser.Id, CurrentPassword, NewPassword, Actor, ct);
        if (!changed.Ok)
        {
            Say(error: changed.Problem!.Message);
            return Page();
        }
        // The change renews the security stamp, which ends every other session; this one continues with a new cookie.
        await signIn.RefreshSignInAsync(changed.Value!);
        return Done("Password changed. Other signed-in sessions have been signed out.");
    }
}
