using HepDb.Data;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Backups;

/// <summary>
/// One backup or restore at a time per database, across replicas: a lease named <c>db:{id}</c> in the metadata store,
/// held by one operation (not one instance, so two requests of the same replica exclude each other too) and renewed
/// while it runs. A crashed holder's lease expires after <see cref="Ttl"/>; one whose process is known to be gone (same
/// machine, no such process) is taken over at once, so a restart finishes what a crash cut short without waiting.
/// </summary>
public sealed class DatabaseLocks(IServiceScopeFactory scopes, InstanceIdentity instance, TimeProvider time)
{
    private readonly IServiceScopeFactory _scopes = scopes;
    private readonly TimeProvider _time = time;
    public static readonly TimeSpan Ttl = TimeSpan.FromMinutes(2);
    private long _operations;

    public static string LeaseName(string databaseId) => "db:" + databaseId;

    /// <summary>Takes the database's lock, or returns null when a live operation holds it.</summary>
    public async Task<Held?> TryTakeAsync(string databaseId, CancellationToken ct)
    {
        var holder = $"{instance.Id}#{Interlocked.Increment(ref _operations)}";
        var name = LeaseName(databaseId);
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        if (!await Leases.TryAcquireAsync(db, name, holder, Ttl, _time, ct))
        {
            var current = await db.Leases.AsNoTracking().Where(l => l.Name == name).Select(l => l.Holder).FirstOrDefaultAsync(ct);
            if (current is null || !InstanceIdentity.IsGone(current)) return null;
            var until = _time.GetUtcNow().UtcDateTime + Ttl;
            if (await db.Leases.Where(l => l.Name == name && l.Holder == current)
                    .ExecuteUpdateAsync(s => s.SetProperty(l => l.Holder, holder).SetProperty(l => l.ExpiresAt, until), ct) != 1)
                return null;
        }
        return new Held(this, name, holder);
    }

    /// <summary>Whether a live operation holds the database's lock.</summary>
    public async Task<bool> IsHeldAsync(HepDbContext db, string databaseId, CancellationToken ct)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var name = LeaseName(databaseId);
        var lease = await db.Leases.AsNoTracking().FirstOrDefaultAsync(l => l.Name == name, ct);
        return lease is not null && lease.ExpiresAt > now && !InstanceIdentity.IsGone(lease.Holder);
    }

    /// <summary>A held lock, renewed in the background until disposed, then released.</summary>
    public sealed class Held : IAsyncDisposable
    {
        private readonly DatabaseLocks _locks;
        private readonly string _name;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewal;

        internal Held(DatabaseLocks locks, string name, string holder)
        {
            _locks = locks;
            _name = name;
            Holder = holder;
            _renewal = RenewAsync();
        }

        public string Holder { get; }

        private async Task RenewAsync()
        {
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    await Task.Delay(Ttl / 4, _locks._time, _stop.Token);
                    await using var scope = _locks._scopes.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
                    var until = _locks._time.GetUtcNow().UtcDateTime + Ttl;
                    await db.Leases.Where(l => l.Name == _name && l.Holder == Holder)
                        .ExecuteUpdateAsync(s => s.SetProperty(l => l.ExpiresAt, until), _stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // disposed
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _renewal;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // a failed renewal only shortened the lease
            }
            await using var scope = _locks._scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            await db.Leases.Where(l => l.Name == _name && l.Holder == Holder).ExecuteDeleteAsync(CancellationToken.None);
            _stop.Dispose();
        }
    }
}
