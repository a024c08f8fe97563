using HepDb.Data;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Databases;

/// <summary>
/// An account's databases as the API lists them, kept in a <see cref="FreshCache{TValue}"/>: a change committed through
/// this replica is listed from the next request on (<see cref="CommittedWrites"/>), one made elsewhere (another replica,
/// <c>hepdb-admin</c>) within <see cref="FreshCache{TValue}.Freshness"/>. A miss reads only the view's columns.
/// </summary>
public sealed class DatabaseLists
{
    private readonly IDbContextFactory<HepDbContext> _contexts;
    private readonly FreshCache<IReadOnlyList<DatabaseView>> _lists;

    public DatabaseLists(IDbContextFactory<HepDbContext> contexts, CommittedWrites writes, TimeProvider time)
    {
        _contexts = contexts;
        _lists = new FreshCache<IReadOnlyList<DatabaseView>>(time);
        writes.Watch("databases", _lists.Forget);
    }

    /// <summary>The databases an account sees, in the API and in the dashboard: the ready ones, oldest first.</summary>
    public static IQueryable<TenantDatabase> Listed(IQueryable<TenantDatabase> databases, string accountId) =>
        databases.Where(d => d.AccountId == accountId && d.Phase == DatabasePhase.Ready).OrderBy(d => d.CreatedAt).ThenBy(d => d.Id);

    public async Task<IReadOnlyList<DatabaseView>> OfAccountAsync(string accountId, CancellationToken ct) =>
        (await _lists.GetAsync(accountId, async t =>
        {
            await using var db = await _contexts.CreateDbContextAsync(t);
            return (IReadOnlyList<DatabaseView>)await Listed(db.Databases.AsNoTracking(), accountId).Select(DatabaseView.Projection).ToListAsync(t);
        }, ct))!;
}
