using HepDb.Accounts;
using HepDb.Admin;
using HepDb.Audit;
using HepDb.Dashboard;
using HepDb.Quotas;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Pages.Admin;

/// <summary>One account: its limits, packs, databases and keys, and the operator's actions on it. Every action goes
/// through the same service the operator tool uses.</summary>
public sealed class AccountModel(AdminService admin, PackService packs, Suspension suspension, DashboardUsers users, IOptions<PacksOptions> catalogue, TimeProvider time)
    : OperatorPage
{
    [BindProperty(SupportsGet = true)] public string Id { get; set; } = "";
    public AccountDetail Detail { get; private set; } = null!;
    public IReadOnlyList<PackOffer> Catalogue => catalogue.Value.EffectiveCatalogue;
    public DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>A temporary password set by <see cref="OnPostResetPasswordAsync"/>, shown to the operator once.</summary>
    public string? TemporaryPassword { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        var detail = await admin.DetailAsync(Id, ct);
        if (detail is null) return NotFound();
        Detail = detail;
        return Page();
    }

    public async Task<IActionResult> OnPostTierAsync(string tier, CancellationToken ct)
    {
        if (!await ExistsAsync(ct)) return NotFound();
        if (!Tiers.All.Contains(tier)) return Refused(new Api.Problem("INVALID_TIER", "Choose free, premium or admin."), new { Id });
        await packs.SetTierAsync(Id, tier, OperatorActor, ct);
        return Done($"Tier set to {tier}; limits apply at once.", new { Id });
    }

    public async Task<IActionResult> OnPostPackAsync(string pack, CancellationToken ct)
    {
        if (!await ExistsAsync(ct)) return NotFound();
        var granted = await packs.GrantAsync(Id, pack, "operator", null, OperatorActor, ct);
        return granted.Ok ? Done($"Granted {pack} until {Format.Utc(granted.Value!.ExpiresAt)}.", new { Id }) : Refused(granted.Problem!, new { Id });
    }

    public async Task<IActionResult> OnPostSuspendAsync(string? reason, CancellationToken ct)
    {
        if (!await ExistsAsync(ct)) return NotFound();
        if (string.IsNullOrWhiteSpace(reason)) return Refused(new Api.Problem("REASON_REQUIRED", "A suspension needs a reason."), new { Id });
        var errors = await suspension.SuspendAsync(Id, reason, OperatorActor, ct);
        return Finished("Suspended: keys disabled, databases locked, sessions ended.", errors);
    }

    public async Task<IActionResult> OnPostLiftAsync(string? reason, CancellationToken ct)
    {
        if (!await ExistsAsync(ct)) return NotFound();
        if (string.IsNullOrWhiteSpace(reason)) return Refused(new Api.Problem("REASON_REQUIRED", "Lifting a suspension needs a reason."), new { Id });
        var errors = await suspension.LiftAsync(Id, reason, OperatorActor, ct);
        return Finished("Suspension lifted: the keys and databases are back as they were.", errors);
    }

    /// <summary>Sets a generated password (shown once, here), lifts a sign-in lockout and ends the user's sessions.</summary>
    public async Task<IActionResult> OnPostResetPasswordAsync(CancellationToken ct)
    {
        var account = await Db.Accounts.FirstOrDefaultAsync(a => a.Id == Id, ct);
        if (account is null) return NotFound();
        var password = Security.Secrets.NewDatabasePassword();
        var errors = await users.SetPasswordAsync(account, password, OperatorActor, ct);
        if (errors.Count > 0) return Refused(new Api.Problem("INVALID_PASSWORD", string.Join(" ", errors)), new { Id });
        TemporaryPassword = password;
        Say("Password reset: the user's sessions are ended and any lockout is lifted. Give them this password; it is shown once.");
        Detail = (await admin.DetailAsync(Id, ct))!;
        return Page();
    }

    private Task<bool> ExistsAsync(CancellationToken ct) => Db.Accounts.AnyAsync(a => a.Id == Id, ct);

    private IActionResult Finished(string notice, IReadOnlyList<string> engineErrors) => engineErrors.Count == 0
        ? Done(notice, new { Id })
        : Refused(new Api.Problem("ENGINE_UNAVAILABLE", $"Recorded, but some engine steps failed and will be retried by the quota watcher: {string.Join("; ", engineErrors)}"), new { Id });
}
