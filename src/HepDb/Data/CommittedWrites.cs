using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace HepDb.Data;

/// <summary>
/// Tells this replica's read caches when a write to one of their tables has been committed through this process's
/// metadata store, whatever wrote it (a tracked save, <c>ExecuteUpdate</c>, <c>ExecuteDelete</c>). A write outside a
/// transaction counts when it has run; one inside a transaction when the transaction commits, so nobody re-reads the
/// old rows after being told. Writes made by other processes are not seen here: the caches' freshness bound covers
/// them (<see cref="FreshCache{TValue}"/>).
/// </summary>
public sealed class CommittedWrites : DbCommandInterceptor, IDbTransactionInterceptor
{
    private readonly List<(Regex Table, Action Committed)> _watches = [];
    private readonly ConditionalWeakTable<DbTransaction, List<Action>> _pending = [];

    /// <summary>Calls <paramref name="committed"/> after every committed write to <paramref name="table"/>.</summary>
    public void Watch(string table, Action committed)
    {
        // The name as a whole word, quoted (SQLite) or not (PostgreSQL leaves lower-case names bare).
        var name = new Regex($"(?<![A-Za-z0-9_]){Regex.Escape(table)}(?![A-Za-z0-9_])", RegexOptions.CultureInvariant);
        lock (_watches) _watches.Add((name, committed));
    }

    public override DbDataReader ReaderExecuted(DbCommand command, CommandExecutedEventData eventData, DbDataReader result)
    {
        Written(command);
        return result;
    }

    public override ValueTask<DbDataReader> ReaderExecutedAsync(DbCommand command, CommandExecutedEventData eventData, DbDataReader result,
        CancellationToken ct = default)
    {
        Written(command);
        return ValueTask.FromResult(result);
    }

    public override int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        Written(command);
        return result;
    }

    public override ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken ct = default)
    {
        Written(command);
        return ValueTask.FromResult(result);
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Committed(transaction);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken ct = default)
    {
        Committed(transaction);
        return Task.CompletedTask;
    }

    private void Written(DbCommand command)
    {
        var sql = command.CommandText;
        if (sql.StartsWith("SELECT", StringComparison.OrdinalIgnoreCase)) return;
        List<Action> told;
        lock (_watches) told = _watches.Where(w => w.Table.IsMatch(sql)).Select(w => w.Committed).ToList();
        if (told.Count == 0) return;
        if (command.Transaction is { } transaction)
        {
            lock (_pending) _pending.GetOrCreateValue(transaction).AddRange(told);
            return;
        }
        foreach (var committed in told) committed();
    }

    private void Committed(DbTransaction transaction)
    {
        List<Action>? told;
        lock (_pending)
            if (!_pending.TryGetValue(transaction, out told) || !_pending.Remove(transaction)) return;
        foreach (var committed in told.Distinct()) committed();
    }
}
