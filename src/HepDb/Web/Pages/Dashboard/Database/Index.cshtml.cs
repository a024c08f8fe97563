using System.Net;
using HepDb.Accounts;
using HepDb.Allowlists;
using HepDb.Backups;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Fleet;
using HepDb.Quotas;
using HepDb.Usage;
using HepDb.Web.Display;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.Options;

namespace HepDb.Web.Pages.Dashboard.Database;

/// <summary>One database as its card shows it. <see cref="Access"/> is set only when the password was just revealed,
/// rotated or created in this response. <see cref="Backups"/> are the newest few (complete and failed), of
/// <see cref="BackupCount"/> listed; <see cref="CanBackUp"/> says whether this deployment has the engine's dump tools.
/// <see cref="Allowed"/> is the IP allowlist (empty: any address), <see cref="CanAllowlist"/> whether the engine's server
/// takes allowlists here; <see cref="CaDownload"/> is the CA certificate's download name when the server requires TLS and
/// HepDb has its CA file, else null.</summary>
public sealed record DatabaseCard(TenantDatabase Record, EngineKind Kind, string Host, int Port, string MaskedConnectionString,
    IReadOnlyList<Snippet> Snippets, DatabaseAccess? Access, IReadOnlyList<Backup> Backups, int BackupCount, bool CanBackUp,
    IReadOnlyList<IPNetwork> Allowed, bool CanAllowlist, string? CaDownload)
{
    /// <summary>The name of the engine server that holds the database (<c>default</c> for the configured one).</summary>
    public string ServerName => Record.ServerId.Split('/') is [_, var name] ? name : EngineServer.DefaultName;
}

[ImportUploadLimits]
public sealed class IndexModel(
    DatabaseService databases, AccountService accounts, EngineRegistry engines, BackupService backups, DeletedDatabases deletedDatabases,
    AllowlistService allowlists, UsageHistory history, IOptions<BackupsOptions> backupOptions, TimeProvider time) : DashboardPage
{
    public const string Mask = "••••••••";

    /// <summary>How many backups a card lists (newest first).</summary>
    public const int BackupsShown = 10;

    /// <summary>Final backups of deleted databases that can still be restored into a new database.</summary>
    public List<Backup> Recoverable { get; } = [];

    /// <summary>How long a deleted database's final backup is kept (zero: no final backups).</summary>
    public TimeSpan RecoveryWindow => backupOptions.Value.RecoveryWindow;

    /// <summary>The recovery window in words ("7 days", "1 day", "12 hours").</summary>
    public string RecoveryWindowText => RecoveryWindow switch
    {
        { TotalDays: >= 1 } w when w.TotalDays % 1 == 0 => w.TotalDays == 1 ? "1 day" : $"{(int)w.TotalDays} days",
        var w => w.TotalHours == 1 ? "1 hour" : $"{w.TotalHours.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} hours",
    };

    public EffectiveLimits Limits { get; private set; } = null!;
    public long UsedBytes { get; private set; }

    /// <summary>Slots taken as the limit check counts them: every record, including one being provisioned or deleted
    /// (which has no card).</summary>
    public int SlotsUsed { get; private set; }
    public List<DatabaseCard> Cards { get; } = [];
    public List<EngineKind> EnabledEngines { get; } = [];

    /// <summary>Each card's samples of the last 48 hours (its storage and connection graphs), by database id.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<UsagePoint>> History { get; private set; } = new Dictionary<string, IReadOnlyList<UsagePoint>>();

    public GraphSpec StorageGraph(TenantDatabase d) => UsageGraphs.Storage(d.Id, d.Name, PointsOf(d), Limits.StorageBytes, Now);

    public GraphSpec ConnectionsGraph(TenantDatabase d) =>
        UsageGraphs.Connections(d.Id, d.Name, PointsOf(d), d.ConnectionLimit > 0 ? d.ConnectionLimit : Limits.ConnectionsPerUser, Now);

    private IReadOnlyList<UsagePoint> PointsOf(TenantDatabase d) => History.TryGetValue(d.Id, out var points) ? points : [];

    /// <summary>The engines not offered, with why, so the form can say it.</summary>
    public List<(EngineKind Kind, string Why)> OffEngines { get; } = [];
    public DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>A refused allowlist change, shown on its card after the redirect (<see cref="AllowlistErrorFor"/> is the
    /// database's id) with the text that was sent, so it can be corrected rather than typed again.</summary>
    [TempData] public string? AllowlistErrorFor { get; set; }
    [TempData] public string? AllowlistError { get; set; }
    [TempData] public string? AllowlistDraft { get; set; }

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
        if (!deleted.Ok) return Refused(deleted.Problem!);
        var gone = $"Deleted {deleted.Value!.Name} ({deleted.Value.DbName}): the database and its user are gone and the slot is free.";
        var final = (await backups.RecoverableAsync(Account.Id, ct)).FirstOrDefault(b => b.DatabaseId == deleted.Value.Id);
        return Done(final is null ? gone : $"{gone} A final backup is kept until {Format.Utc(final.ExpiresAt)}: restore it under Recently deleted.");
    }

    /// <summary>"Back up now": a manual backup, limited per database per day by the plan. Answers once it is complete.</summary>
    public async Task<IActionResult> OnPostBackupAsync(string id, CancellationToken ct)
    {
        var taken = await backups.CreateAsync(Account.Id, id, Actor, ct);
        return taken.Ok
            ? Done($"Backed up {taken.Value!.DatabaseName} ({taken.Value.DbName}): {Format.Bytes(taken.Value.SizeBytes)}, taken {Format.Utc(taken.Value.CreatedAt)}.")
            : Refused(taken.Problem!);
    }

    /// <summary>A backup file: the engine's own dump (MariaDB .sql.gz, PostgreSQL pg_dump custom format), streamed and
    /// never cached. Refused (with the service's message, back on the page) for a backup that is not this account's
    /// database's, and while the account is suspended.</summary>
    public async Task<IActionResult> OnGetDownloadAsync(string id, string backupId, CancellationToken ct)
    {
        var download = await backups.OpenDownloadAsync(Account.Id, id, backupId, Actor, ct);
        if (!download.Ok) return Refused(download.Problem!);
        Response.Headers.CacheControl = "no-store";
        return File(download.Value!.Content, download.Value.ContentType, download.Value.Backup.DownloadName);
    }

    /// <summary>Replaces the database's contents with one of its backups, once its name is typed (as for Delete).</summary>
    public async Task<IActionResult> OnPostRestoreAsync(string id, string backupId, string? confirmation, CancellationToken ct)
    {
        var record = (await databases.ListAsync(Account.Id, ct)).FirstOrDefault(d => d.Id == id);
        if (record is null) return Refused(Api.ApiErrors.DatabaseNotFound);
        if (!string.Equals(confirmation?.Trim(), record.Name, StringComparison.Ordinal)) return Refused(Api.ApiErrors.ConfirmationMismatch(record.Name));
        var restored = await backups.RestoreAsync(Account.Id, id, backupId, Actor, ct);
        return restored.Ok
            ? Done($"Restored {restored.Value!.Name} ({restored.Value.DbName}) from the backup: its previous contents are replaced.")
            : Refused(restored.Problem!);
    }

    /// <summary>"Import": a dump the tenant uploads (plain SQL or .sql.gz on either engine, a pg_dump custom archive on
    /// PostgreSQL), added to the database's contents as its own user. Refused (nothing changed) when its SQL is larger
    /// than the account's free storage, or when it fails. Uploads up to <see cref="ImportUploadLimitsAttribute.MaxBytes"/>
    /// are taken for this handler only.</summary>
    public async Task<IActionResult> OnPostImportAsync(string id, IFormFile? upload, CancellationToken ct)
    {
        if (upload is null || upload.Length == 0)
            return Refused(Api.ApiErrors.ImportFailed("Choose a file to import: plain SQL (.sql), gzip-compressed SQL (.sql.gz) or, for PostgreSQL, a pg_dump custom archive (.dump)."));
        Api.Outcome<Imported> imported;
        await using (var content = upload.OpenReadStream())
            imported = await backups.ImportAsync(Account.Id, id, content, Actor, ct);
        if (!imported.Ok) return Refused(imported.Problem!);
        var (database, sql) = imported.Value!;
        return Done($"Imported {Format.Bytes(sql)} of SQL into {database.Name} ({database.DbName}).");
    }

    /// <summary>"Save" of a card's allowed IP addresses: one range or address per line (blank lines do not count); none
    /// allows any address. The service checks the entries and applies the list on the engine; a refusal is shown on the
    /// card and changes nothing.</summary>
    public async Task<IActionResult> OnPostAllowlistAsync(string id, string? ranges, CancellationToken ct)
    {
        var entries = (ranges ?? "").Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var set = await allowlists.SetAsync(Account.Id, id, entries, Actor, ct);
        if (!set.Ok)
        {
            (AllowlistErrorFor, AllowlistError, AllowlistDraft) = (id, set.Problem!.Message, ranges);
            return RedirectToPage(null, null, $"allowlist-{id}");
        }
        var name = (await databases.ListAsync(Account.Id, ct)).FirstOrDefault(d => d.Id == id)?.Name ?? id;
        return Done(set.Value!.Count == 0
            ? $"{name} accepts connections from any address again."
            : $"{name} now accepts connections only from {string.Join(", ", set.Value)}.");
    }

    /// <summary>The CA certificate (PEM) that signed an engine server's certificate, for clients to verify the server
    /// (the snippets name it <see cref="CaCertificates.DownloadName"/>); 404 when HepDb has none for that engine. It is
    /// public, but served only to signed-in users like the rest of the card: no anonymous route tells who asks which
    /// engines this deployment runs.</summary>
    public IActionResult OnGetCaCertificate(string? engine, string? server)
    {
        if (!EngineKinds.TryParse(engine, out var kind)) return NotFound();
        var holder = (server is null ? null : engines.Server(EngineServer.IdOf(kind, server))) ?? engines.Primary(kind);
        if (CaCertificates.Path(holder?.Adapter.Server) is not { } path) return NotFound();
        return PhysicalFile(path, "application/x-pem-file", CaCertificates.DownloadName(kind));
    }

    /// <summary>"Restore into a new database": a deleted database's final backup, into a new database in a free slot.</summary>
    public async Task<IActionResult> OnPostRecoverAsync(string backupId, CancellationToken ct)
    {
        var recovered = await deletedDatabases.RecoverAsync(Account.Id, backupId, Actor, ct);
        return recovered.Ok
            ? Done($"Restored {recovered.Value!.Name} into a new database, {recovered.Value.DbName}, with a new password: reveal it below.")
            : Refused(recovered.Problem!);
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
        var backupsOf = await backups.ListByDatabaseAsync(Account.Id, ct);
        foreach (var d in await databases.ListAsync(Account.Id, ct))
        {
            var kind = d.Engine;
            var adapter = engines.For(d);
            var host = adapter?.Server.EffectivePublicHost ?? "(engine not configured)";
            var port = adapter?.Server.EffectivePublicPort ?? 0;
            var limit = d.ConnectionLimit > 0 ? d.ConnectionLimit : Limits.ConnectionsPerUser;
            var all = backupsOf[d.Id].ToList();
            var tls = SnippetTls.Of(kind, adapter?.Server);
            Cards.Add(new DatabaseCard(d, kind, host, port, adapter?.ConnectionString(d.DbName, d.DbUser, Mask) ?? "",
                Snippets.For(kind, host, port, d.DbName, d.DbUser, limit, tls), access?.Database.Id == d.Id ? access : null,
                all.Take(BackupsShown).ToList(), all.Count, adapter?.Dumps is not null,
                Cidrs.Load(d.AllowedCidrs), adapter?.SupportsAllowlists == true, tls.CaFile));
        }
        Recoverable.AddRange(await backups.RecoverableAsync(Account.Id, ct));
        History = await history.DatabasesSinceAsync(Cards.Select(c => c.Record.Id).ToList(), Now - UsageGraphs.DashboardWindow, ct);
    }
}

/// <summary>Lets the Import handler (<c>?handler=Import</c>) take uploads of up to <see cref="MaxBytes"/>, on this page
/// only and for that handler only: every other request keeps the server's limits. Razor Pages apply filters per page,
/// not per handler, so this filter looks at the handler the request names (as the handler selector does: route value,
/// then query) and raises the request body limit and the multipart limit before anything reads the form (it runs
/// before the antiforgery check, which reads it).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ImportUploadLimitsAttribute : Attribute, IAuthorizationFilter, IOrderedFilter
{
    /// <summary>The largest upload the Import handler takes: 2 GiB.</summary>
    public const long MaxBytes = 2L << 30;

    /// <summary>Before the antiforgery filter (order 1000), like <see cref="RequestSizeLimitAttribute"/> (900).</summary>
    public int Order => 900;

    public void OnAuthorization(AuthorizationFilterContext context)
    {
        var http = context.HttpContext;
        var handler = context.RouteData.Values["handler"] as string ?? http.Request.Query["handler"].FirstOrDefault();
        if (!HttpMethods.IsPost(http.Request.Method) || !string.Equals(handler, "Import", StringComparison.OrdinalIgnoreCase)) return;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = MaxBytes;
        if (http.Features.Get<IFormFeature>()?.Form is null)
        {
            var global = http.RequestServices.GetRequiredService<IOptions<FormOptions>>().Value;
            http.Features.Set<IFormFeature>(new FormFeature(http.Request, new FormOptions
            {
                BufferBody = global.BufferBody, MemoryBufferThreshold = global.MemoryBufferThreshold, BufferBodyLengthLimit = global.BufferBodyLengthLimit,
                ValueCountLimit = global.ValueCountLimit, KeyLengthLimit = global.KeyLengthLimit, ValueLengthLimit = global.ValueLengthLimit,
                MultipartBoundaryLengthLimit = global.MultipartBoundaryLengthLimit, MultipartHeadersCountLimit = global.MultipartHeadersCountLimit,
                MultipartHeadersLengthLimit = global.MultipartHeadersLengthLimit, MultipartBodyLengthLimit = MaxBytes,
            }));
        }
    }
}
