using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Backups;

/// <summary>One database's backup health. <see cref="LastFailure"/> is set only when it is newer than
/// <see cref="LastSuccessAt"/>; <see cref="Overdue"/>: no successful backup for <see cref="BackupHealth.OverdueAfter"/>
/// (counted from its creation when it never had one).</summary>
public sealed record BackupHealthRow(
    string AccountId, string Email, string DatabaseId, string Name, string DbName, EngineKind Engine, DateTime CreatedAt,
    DateTime? LastSuccessAt, Backup? LastFailure, bool Overdue);

/// <summary>A failed backup, with the email of the account it was for.</summary>
public sealed record BackupFailureRow(Backup Backup, string Email);

public sealed record BackupHealthReport(
    IReadOnlyList<BackupHealthRow> Databases, IReadOnlyList<BackupFailureRow> RecentFailures, int StoredCount, long StoredBytes, DateTime Now);

/// <summary>What the operators' Backups page reads: per database the last successful backup (scheduled or manual) and a
/// failure newer than it, the failures of the last days, and what the store holds.</summary>
public sealed class BackupHealth(HepDbContext db, TimeProvider time)
{
    /// <summary>A database without a successful backup for this long is flagged: the daily backup plus two hours.</summary>
    public static readonly TimeSpan OverdueAfter = TimeSpan.FromHours(26);

    /// <summary>How far back the list of failures reaches.</summary>
    public static readonly TimeSpan FailuresSince = TimeSpan.FromDays(7);

    public const int MaxFailuresListed = 500;

    public async Task<BackupHealthReport> ReportAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var databases = await db.Databases.AsNoTracking().Where(d => d.Phase == DatabasePhase.Ready)
            .Join(db.Accounts.AsNoTracking(), d => d.AccountId, a => a.Id, (d, a) => new { Database = d, a.Email })
            .ToListAsync(ct);
        var lastSuccess = await db.Backups.AsNoTracking()
            .Where(b => b.Status == BackupStatus.Complete && (b.Kind == BackupKind.Scheduled || b.Kind == BackupKind.Manual))
            .GroupBy(b => b.DatabaseId).Select(g => new { g.Key, At = g.Max(b => b.CreatedAt) })
            .ToDictionaryAsync(x => x.Key, x => x.At, ct);
        var lastFailureAt = await db.Backups.AsNoTracking().Where(b => b.Status == BackupStatus.Failed)
            .GroupBy(b => b.DatabaseId).Select(g => new { g.Key, At = g.Max(b => b.CreatedAt) })
            .ToDictionaryAsync(x => x.Key, x => x.At, ct);

        // Only the failures newer than the database's last success are read in full.
        var failing = lastFailureAt.Where(f => !lastSuccess.TryGetValue(f.Key, out var ok) || f.Value > ok).Select(f => f.Key).ToList();
        var failures = failing.Count == 0 ? [] : await db.Backups.AsNoTracking()
            .Where(b => b.Status == BackupStatus.Failed && failing.Contains(b.DatabaseId)).ToListAsync(ct);
        var latestFailure = failures.GroupBy(b => b.DatabaseId).ToDictionary(g => g.Key, g => g.OrderByDescending(b => b.CreatedAt).First());

        var rows = databases.Select(x =>
        {
            var d = x.Database;
            DateTime? success = lastSuccess.TryGetValue(d.Id, out var at) ? at : null;
            return new BackupHealthRow(d.AccountId, x.Email, d.Id, d.Name, d.DbName, d.Engine, d.CreatedAt, success,
                latestFailure.GetValueOrDefault(d.Id), (success ?? d.CreatedAt) < now - OverdueAfter);
        }).OrderByDescending(r => r.Overdue).ThenByDescending(r => r.LastFailure is not null).ThenBy(r => r.Email, StringComparer.Ordinal)
            .ThenBy(r => r.DbName, StringComparer.Ordinal).ToList();

        var since = now - FailuresSince;
        var recent = await db.Backups.AsNoTracking().Where(b => b.Status == BackupStatus.Failed && b.CreatedAt >= since)
            .OrderByDescending(b => b.CreatedAt).Take(MaxFailuresListed).ToListAsync(ct);
        var accountIds = recent.Select(b => b.AccountId).Distinct().ToList();
        var emails = await db.Accounts.AsNoTracking().Where(a => accountIds.Contains(a.Id)).ToDictionaryAsync(a => a.Id, a => a.Email, ct);

        var stored = await db.Backups.AsNoTracking().Where(b => b.Status == BackupStatus.Complete)
            .GroupBy(b => 1).Select(g => new { Count = g.Count(), Bytes = g.Sum(b => b.SizeBytes) }).FirstOrDefaultAsync(ct);

        return new BackupHealthReport(rows,
            recent.Select(b => new BackupFailureRow(b, emails.GetValueOrDefault(b.AccountId) ?? "(account gone)")).ToList(),
            stored?.Count ?? 0, stored?.Bytes ?? 0, now);
    }
}
