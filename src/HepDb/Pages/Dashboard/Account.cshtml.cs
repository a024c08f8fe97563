using HepDb.Audit;
using HepDb.Dashboard;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace HepDb.Pages.Dashboard;

/// <summary>The signed-in user's own settings: their account at a glance and a password change.</summary>
public sealed class AccountModel(UserManager<DashboardUser> users, SignInManager<DashboardUser> signIn, TimeProvider time) : DashboardPage
{
    [BindProperty] public string? CurrentPassword { get; set; }
    [BindProperty] public string? NewPassword { get; set; }
    public IReadOnlyList<string> Errors { get; private set; } = [];

    public void OnGet() { }

    public async Task<IActionResult> OnPostPasswordAsync(CancellationToken ct)
    {
        // SPEC §5: a suspended account changes nothing, its password included (an operator can still reset it).
        if (IsSuspended) return Refused(Api.ApiErrors.AccountSuspended);
        var user = await users.FindByIdAsync(CurrentUser.Id);
        if (user is null) return NotFound();
        var changed = await users.ChangePasswordAsync(user, CurrentPassword ?? "", NewPassword ?? "");
        if (!changed.Succeeded)
        {
            Errors = changed.Errors.Select(e => e.Code == "PasswordMismatch" ? "The current password is wrong." : e.Description).ToList();
            return Page();
        }
        Db.Record(time, Actor, Account.Id, "user.password_changed", user.Id);
        await Db.SaveChangesAsync(ct);
        // The change renews the security stamp, which ends every other session; this one continues with a new cookie.
        await signIn.RefreshSignInAsync(user);
        return Done("Password changed. Other signed-in sessions have been signed out.");
    }
}
