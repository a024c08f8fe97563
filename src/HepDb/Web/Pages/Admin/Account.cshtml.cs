using HepDb.Accounts;
using HepDb.Quotas;
using HepDb.Web.Admin;
using HepDb.Web.Display;
using HepDb.Web.Users;
using Microsoft.Extensions.Options;

namespace HepDb.Web.Pages.Admin;

/// <summary>One account: its limits, packs, databases and keys, and the operator's actions on it. Every action goes
/// through the same service the operator tool uses.</summary>
public sealed class AccountModel(
    AdminService admin, AccountService accounts, PackService packs, Suspension suspension, DashboardUsers users, IOptions<PacksOptions> catalogue, TimeProvider time)
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

    public async Task<IActionResult> OnPostTierAsync(string? tier, CancellationToken ct)
    {
        if (await accounts.FindAsync(Id, ct) is null) return NotFound();
        var set = await packs.SetTierAsync(Id, tier, OperatorActor, ct);
        return set.Ok ? Done($"Tier set to {tier}; limits apply at once.", new { Id }) : Refused(set.Problem!, new { Id });
    }

    public async Task<IActionResult> OnPostPackAsync(string pack, CancellationToken ct)
    {
        if (await accounts.FindAsync(Id, ct) is null) return NotFound();
        var granted = await packs.GrantAsync(Id, pack, "operator", null, OperatorActor, ct);
        return granted.Ok ? Done($"Granted {pack} until {Format.Utc(granted.Value!.ExpiresAt)}.", new { Id }) : Refused(granted.Problem!, new { Id });
    }

    public async Task<IActionResult> OnPostSuspendAsync(string? reason, CancellationToken ct)
    {
        if (await accounts.FindAsync(Id, ct) is null) return NotFound();
        return Finished("Suspended: keys disabled, databases locked, sessions ended.", await suspension.SuspendAsync(Id, reason, OperatorActor, ct));
    }

    public async Task<IActionResult> OnPostLiftAsync(string? reason, CancellationToken ct)
    {
        if (await accounts.FindAsync(Id, ct) is null) return NotFound();
        return Finished("Suspension lifted: the keys and databases are back as they were.", await suspension.LiftAsync(Id, reason, OperatorActor, ct));
    }

    /// <summary>Sets a generated password (shown once, here), lifts a sign-in lockout and ends the user's sessions.</summary>
    public async Task<IActionResult> OnPostResetPasswordAsync(CancellationToken ct)
    {
        var account = await accounts.FindAsync(Id, ct);
        if (account is null) return NotFound();
        var password = Security.Secrets.NewDatabasePassword();
        if (await users.SetPasswordAsync(account, password, OperatorActor, ct) is { } problem) return Refused(problem, new { Id });
        TemporaryPassword = password;
        Say("Password reset: the user's sessions are ended and any lockout is lifted. Give them this password; it is shown once.");
        Detail = (await admin.DetailAsync(Id, ct))!;
        return Page();
    }

    /// <summary>A suspension or its lifting: refused, done, or recorded with engine steps left to the quota watcher.</summary>
    private IActionResult Finished(string notice, Api.Outcome<IReadOnlyList<string>> outcome) =>
        !outcome.Ok ? Refused(outcome.Problem!, new { Id })
        : outcome.Value!.Count == 0 ? Done(notice, new { Id })
        : Refused(Api.ApiErrors.EngineStepsPending(outcome.Value), new { Id });
}
