using HepDb.Accounts;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Quotas;
using HepDb.Web.Display;

namespace HepDb.Web.Pages.Dashboard.Database;

/// <summary>One database as its card shows it. <see cref="Access"/> is set only when the password was just revealed,
/// rotated or created in this response.</summary>
public sealed record DatabaseCard(TenantDatabase Record, EngineKind Kind, string Host, int Port, string MaskedConnectionString,
    IReadOnlyList<Snippet> Snippets, DatabaseAccess? Access);

public sealed class IndexModel(DatabaseService databases, AccountService accounts, EngineRegistry engines, TimeProvider time) : DashboardPage
{
    public const string Mask = "••••••••";

    public EffectiveLimits Limits { get; private set; } = null!;
    public long UsedBytes { get; private set; }

    /// <summary>Slots taken as the limit check counts them: every record, including one being provisioned or deleted
    /// (which has no card).</summary>
    public int SlotsUsed { get; private set; }
    public List<DatabaseCard> Cards { get; } = [];
    public List<EngineKind> EnabledEngines { get; } = [];

    /// <summary>The engines not offered, with why, so the form can say it.</summary>
    public List<(EngineKind Kind, string Why)> OffEngines { get; } = [];
    public DateTime Now => time.GetUtcNow().UtcDateTime;

    [BindProperty] public string? Name { get; set; }
    [BindProperty] public string? Engine { get; set; }

    public Task OnGetAsync(CancellationToken ct) => LoadAsync(null, ct);

    public async Task<IActionResult> OnPostCreateAsync(CancellationToken ct)
    {
        var created = await databases.CreateAsync(Account.Id, Name, Engine, Actor, idempotencyKey: null, ct);
        if (!created.Ok) return await ShowAsync(null, error: created.Problem!.Message, ct: ct);
        Name = null;
        return await ShowAsync(created.Value, $"Created {created.Value!.Database.Name} ({created.Value.Database.DbName}). Its password is shown below.", ct: ct);
    }

    public async Task<IActionResult> OnPostRevealAsync(string id, CancellationToken ct)
    {
        var revealed = await databases.RevealAsync(Account.Id, id, Actor, ct);
        return revealed.Ok ? await ShowAsync(revealed.Value, ct: ct) : Refused(revealed.Problem!);
    }

    /// <summary>What the Copy button beside a masked connection string fetches: the real string, as plain text. It is a
    /// reveal (same service, same audit entry); the page keeps showing the mask.</summary>
    public async Task<IActionResult> OnPostConnectionStringAsync(string id, CancellationToken ct)
    {
        var revealed = await databases.RevealAsync(Account.Id, id, Actor, ct);
        return revealed.Ok ? Content(revealed.Value!.ConnectionString, "text/plain")
            : new ContentResult { StatusCode = revealed.Problem!.Status, Content = revealed.Problem.Message, ContentType = "text/plain" };
    }

    public async Task<IActionResult> OnPostRotateAsync(string id, CancellationToken ct)
    {
        var rotated = await databases.RotateAsync(Account.Id, id, Actor, ct);
        return rotated.Ok
            ? await ShowAsync(rotated.Value, "Password rotated. The old password no longer works; update your apps with the new one.", ct: ct)
            : Refused(rotated.Problem!);
    }

    public async Task<IActionResult> OnPostDeleteAsync(string id, string? confirmation, CancellationToken ct)
    {
        var deleted = await databases.DeleteAsync(Account.Id, id, confirmation, Actor, ct);
        return deleted.Ok ? Done($"Deleted {deleted.Value!.Name} ({deleted.Value.DbName}): the database and its user are gone and the slot is free.")
            : Refused(deleted.Problem!);
    }

    private async Task<IActionResult> ShowAsync(DatabaseAccess? access, string? notice = null, string? error = null, CancellationToken ct = default)
    {
        Say(notice, error);
        await LoadAsync(access, ct);
        return Page();
    }

    private async Task LoadAsync(DatabaseAccess? access, CancellationToken ct)
    {
        Limits = await accounts.LimitsAsync(Account, ct);
        UsedBytes = await accounts.UsedBytesAsync(Account.Id, ct);
        SlotsUsed = await accounts.SlotsUsedAsync(Account.Id, ct);
        EnabledEngines.AddRange(EngineKinds.All.Where(engines.IsEnabled));
        foreach (var kind in EngineKinds.All.Where(k => !engines.IsEnabled(k)))
            OffEngines.Add((kind, engines.Availability(kind) == EngineAvailability.NotAvailable ? "no server is configured on this deployment"
                : engines.IsSwitchedOff(kind) ? "new databases are paused by the operators; existing ones keep working"
                : "it is not enabled on this deployment"));
        foreach (var d in await databases.ListAsync(Account.Id, ct))
        {
            var kind = d.Engine;
            var adapter = engines.Find(kind);
            var host = adapter?.Server.EffectivePublicHost ?? "(engine not configured)";
            var port = adapter?.Server.EffectivePublicPort ?? 0;
            var limit = d.ConnectionLimit > 0 ? d.ConnectionLimit : Limits.ConnectionsPerUser;
            Cards.Add(new DatabaseCard(d, kind, host, port, adapter?.ConnectionString(d.DbName, d.DbUser, Mask) ?? "",
                Snippets.For(kind, host, port, d.DbName, d.DbUser, limit), access?.Database.Id == d.Id ? access : null));
        }
    }
}
