using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace HepDb.Data;

/// <summary>
/// SQLite lets one writer in at a time. A transaction that finds the write lock taken waits inside <c>sqlite3_step</c>
/// (the busy timeout) and Microsoft.Data.Sqlite then sleeps between retries: both hold a thread-pool thread the whole
/// time, so a burst of writers (fifty creates at once) takes threads from everything else in the process, health
/// checks included. This interceptor makes transactions on one database file take turns on an async gate first, so a
/// waiting writer holds no thread. The gate is released when the transaction commits, rolls back or fails, or, for a
/// transaction disposed without either, when EF closes its connection. Statements outside a transaction are not gated:
/// they are single and short, and SQLite's busy timeout covers them (and other processes, such as hepdb-admin).
/// </summary>
internal sealed class SqliteWriteGate : DbTransactionInterceptor, IDbConnectionInterceptor
{
    public static readonly SqliteWriteGate Instance = new();

    /// <summary>As long as SQLite's own busy timeout. A turn not given within it is taken anyway and SQLite decides, as
    /// without the gate: a transaction opened while the same flow holds another one on a second connection then fails
    /// with "database is locked" instead of waiting for ever.</summary>
    private static readonly TimeSpan MostWait = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<DbConnection, SemaphoreSlim> _holders = [];

    public override InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData,
        InterceptionResult<DbTransaction> result)
    {
        var gate = GateOf(connection);
        if (gate.Wait(MostWait)) _holders.AddOrUpdate(connection, gate);
        return result;
    }

    public override async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(DbConnection connection,
        TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken ct = default)
    {
        var gate = GateOf(connection);
        if (await gate.WaitAsync(MostWait, ct)) _holders.AddOrUpdate(connection, gate);
        return result;
    }

    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Release(ConnectionOf(transaction, eventData));

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken ct = default) =>
        Released(ConnectionOf(transaction, eventData));

    public override void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Release(ConnectionOf(transaction, eventData));

    public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken ct = default) =>
        Released(ConnectionOf(transaction, eventData));

    public override void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Release(ConnectionOf(transaction, eventData));

    public override Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken ct = default) =>
        Released(ConnectionOf(transaction, eventData));

    public void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) => Release(connection);

    public Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData) => Released(connection);

    private SemaphoreSlim GateOf(DbConnection connection) => _gates.GetOrAdd(connection.DataSource, _ => new SemaphoreSlim(1, 1));

    private static DbConnection? ConnectionOf(DbTransaction transaction, TransactionEventData eventData) =>
        eventData.Context?.Database.GetDbConnection() ?? transaction.Connection;

    /// <summary>Releases the gate if this connection holds it; whichever end event comes first releases, exactly once.</summary>
    private void Release(DbConnection? connection)
    {
        if (connection is not null && _holders.TryGetValue(connection, out var gate) && _holders.Remove(connection)) gate.Release();
    }

    private Task Released(DbConnection? connection)
    {
        Release(connection);
        return Task.CompletedTask;
    }
}
