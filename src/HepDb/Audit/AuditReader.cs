using HepDb.Data;

namespace HepDb.Audit;

/// <summary>Reads the audit log for the pages and the operator tool (entries are written by <see cref="AuditLog.Record"/>
/// in the unit of work of the change they describe).</summary>
public sealed class AuditReader(HepDbContext db)
{
    /// <summary>Newest first, optionally for one account and/or actions starting with a prefix.</summary>
    public Task<List<AuditEntry>> EntriesAsync(string? accountId, string? actionPrefix, int take, CancellationToken ct) =>
        db.QueryAsync(accountId, actionPrefix, take, ct);

    /// <summary>The entries with readable names for their actors, as the audit tables show them.</summary>
    public Task<AuditView> ViewAsync(string? accountId, string? actionPrefix, int take, CancellationToken ct) =>
        AuditView.LoadAsync(db, accountId, actionPrefix, take, ct);
}
