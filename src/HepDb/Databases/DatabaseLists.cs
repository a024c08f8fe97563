using HepDb.Data;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Databases;

/// <summary>
/// An account's databases as the API lists them (ready ones, oldest first), read with one compiled query of the view's
/// columns and kept in a <see cref="FreshCache{TValue}"/>: a change committed through this replica is listed from the
/// next request on (<see cref="CommittedWrites"/>), one made elsewhere (another replica, <c>hepdb-admin</c>) within
/// <see cref="FreshCache{TValue}.Freshness"/>.
/// </summary>
public sealed class DatabaseLists
{
    private readonly IDbContextFactory<HepDbContext> _contexts;
    private readonly FreshCache<IReadOnlyList<DatabaseView>> _lists;

    // Per instance: a compiled query belongs to one model, and a process can host servers on both providers (tests).
    private readonly Func<HepDbContext, string, IAsyncEnumerable<DatabaseView>> _ofAccount = EF.CompileAsyncQuery(
        (HepDbContext db, string accountId) => db.Databases.AsNoTracking()
            .Where(d => d.AccountId == accountId && d.Phase == DatabasePhase.Ready)
            .OrderBy(d => d.CreatedAt).ThenBy(d => d.Id)
            .Select(DatabaseView.Projection));

    public DatabaseLists(IDbContextFactory<HepDbContext> contexts, CommittedWrites writes, TimeProvider time)
    {
        _contexts = contexts;
        _lists = new FreshCache<IReadOnlyList<DatabaseView>>(time);
        writes.Watch("databases", _lists.Forget);
    }

    public async Task<IReadOnlyList<DatabaseView>> OfAccountAsync(string accountId, CancellationToken ct) =>
        (await _lists.GetAsync(accountId, async t =>
        {
            await using var db = await _contexts.CreateDbContextAsync(t);
            var list = new List<DatabaseView>();
            await foreach (var view in _ofAccount(db, accountId).WithCancellation(t)) list.Add(view);
            return (IReadOnlyList<DatabaseView>)list;
        }, ct))!;
}
