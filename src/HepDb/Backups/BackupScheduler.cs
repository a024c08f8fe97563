using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using Microsoft.Extensions.Options;

namespace HepDb.Backups;

/// <summary>What one scheduler pass did.</summary>
public sealed record BackupPassReport(int Taken, int Failed, int Purged, int Recovered);

/// <summary>
/// The daily backups, retention and crash recovery. Each pass (once at start, then every <see cref="BackupsOptions.Interval"/>)
/// finishes what a crash cut short, removes what is past its retention, and takes the daily backups that are due, one
/// at a time so tenants' servers never see more than one dump from HepDb at once. Replicas sharing a metadata store take
/// a lease first, so each backup is taken once.
/// </summary>
public sealed class BackupScheduler(
    IServiceScopeFactory scopes, IBackupStore store, InstanceIdentity instance, TimeProvider time, IOptions<BackupsOptions> options,
    ILogger<BackupScheduler> logger) : PeriodicJob(time, logger)
{
    private static readonly TimeSpan MinimumLease = TimeSpan.FromMinutes(2);

    protected override TimeSpan Interval => options.Value.Interval;

    protected override async Task RunPassAsync(bool atStart, CancellationToken ct)
    {
        if (atStart) await store.RemovePartialsAsync(ct);
        await RunOnceAsync(ct, requireLease: !atStart);
    }

    /// <summary>One pass; null when another replica holds the lease and <paramref name="requireLease"/> is set. Without it
    /// (the pass at start, which must not wait for a crashed instance's lease, and an operator's run) recovery and purging
    /// go on regardless (each takes its database's own lock, so nothing is done twice at once); the daily backups are
    /// taken only by the lease's holder.</summary>
    public async Task<BackupPassReport?> RunOnceAsync(CancellationToken ct, bool requireLease = true)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        var backups = scope.ServiceProvider.GetRequiredService<BackupService>();
        var ttl = Interval * 2 > MinimumLease ? Interval * 2 : MinimumLease;
        var leased = await Leases.TryAcquireAsync(db, "backups", instance.Id, ttl, Time, ct);
        if (!leased && requireLease) return null;

        var recovered = await backups.RecoverAsync(ct);
        var purged = await backups.PurgeAsync(ct);
        int taken = 0, failed = 0;
        // Daily backups only under the lease: two replicas starting together would otherwise each take the same one.
        if (options.Value.Scheduled && leased)
        {
            foreach (var database in await backups.DueAsync(ct))
            {
                // Renewed between backups: a long pass must not let another replica start the same work.
                if (!await Leases.TryAcquireAsync(db, "backups", instance.Id, ttl, Time, ct)) break;
                var outcome = await backups.RunAsync(database, BackupKind.Scheduled, Actor.Operator, ct);
                if (outcome.Ok) taken++;
                else if (outcome.Problem != Api.ApiErrors.DatabaseBusy) failed++;
            }
        }
        if (taken + failed + purged + recovered > 0) Logger.SchedulerPass(taken, failed, purged, recovered);
        return new BackupPassReport(taken, failed, purged, recovered);
    }
}
