using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Hosting;
using MySqlConnector;
using static HepDb.Engines.TenantNames;

namespace HepDb.Bench;

/// <summary>
/// MariaDB create latency (issue 11): <see cref="MariaDbAdapter.CreateTenantAsync"/>, one create at a time, against the
/// same four statements sent by hand over one open admin connection, alternating so both see the same server state.
/// The by-hand side is the floor: what the DDL itself costs, without opening or authenticating anything.
/// </summary>
internal sealed class CreateBench(EngineServerOptions server, BenchSettings settings)
{
    public async Task<int> RunAsync(CancellationToken ct)
    {
        IEngineAdapter adapter = new MariaDbAdapter(server);
        var run = "cb" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        var adapterMs = new List<double>();
        var byHandMs = new List<double>();
        var made = new List<TenantSpec>();
        await using var conn = new MySqlConnection(MariaDbAdapter.ConnectionStringFor(server, server.AdminUser ?? "root", server.AdminPassword, null, pooling: false));
        await conn.OpenAsync(ct);
        try
        {
            const int warmUp = 10;
            for (var i = 0; i < settings.Count + warmUp; i++)
            {
                var viaAdapter = Spec(run, 2 * i + 1);
                var byHand = Spec(run, 2 * i + 2);
                made.Add(viaAdapter);
                made.Add(byHand);
                // Alternating which goes first keeps either from always inheriting the other's background work.
                double a, h;
                if (i % 2 == 0)
                {
                    a = await TimeAsync(() => adapter.CreateTenantAsync(viaAdapter, ct));
                    h = await TimeAsync(() => ByHandAsync(conn, byHand, ct));
                }
                else
                {
                    h = await TimeAsync(() => ByHandAsync(conn, byHand, ct));
                    a = await TimeAsync(() => adapter.CreateTenantAsync(viaAdapter, ct));
                }
                if (i < warmUp) continue;
                adapterMs.Add(a);
                byHandMs.Add(h);
            }
        }
        finally
        {
            foreach (var spec in made)
            {
                await ExecAsync(conn, $"DROP DATABASE IF EXISTS {MariaDbQuote(spec.DbName)}", CancellationToken.None);
                await ExecAsync(conn, $"DROP USER IF EXISTS '{Require(spec.User)}'@'%'", CancellationToken.None);
            }
            if (adapter is IAsyncDisposable d) await d.DisposeAsync();
        }

        Console.WriteLine();
        Console.WriteLine($"MariaDB create latency, {settings.Count} creates of each kind, one at a time, after 10 warm-up creates:");
        Console.WriteLine($"  {"path",-44} {"p50 ms",8} {"p90 ms",8} {"max ms",8}");
        Print("MariaDbAdapter.CreateTenantAsync", adapterMs);
        Print("same DDL by hand over one open connection", byHandMs);
        Console.WriteLine($"  ratio (adapter p50 / by-hand p50): {Stats.Percentile(adapterMs, 50) / Stats.Percentile(byHandMs, 50):0.00}x");
        return 0;
    }

    private static async Task<double> TimeAsync(Func<Task> work)
    {
        var sw = Stopwatch.StartNew();
        await work();
        return sw.Elapsed.TotalMilliseconds;
    }

    private static async Task ByHandAsync(MySqlConnection conn, TenantSpec spec, CancellationToken ct)
    {
        foreach (var sql in Statements(spec)) await ExecAsync(conn, sql, ct);
    }

    private static void Print(string path, List<double> ms) =>
        Console.WriteLine($"  {path,-44} {Stats.Percentile(ms, 50),8:0.00} {Stats.Percentile(ms, 90),8:0.00} {ms.Max(),8:0.00}");

    /// <summary>What <see cref="MariaDbAdapter.CreateTenantAsync"/> sends, statement for statement.</summary>
    private static IEnumerable<string> Statements(TenantSpec spec)
    {
        var user = $"'{Require(spec.User)}'@'%'";
        var hash = Literal(MariaDbAdapter.NativePasswordHash(spec.Password));
        yield return $"CREATE DATABASE IF NOT EXISTS {MariaDbQuote(spec.DbName)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci";
        yield return $"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY PASSWORD {hash} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}";
        yield return $"ALTER USER {user} IDENTIFIED BY PASSWORD {hash} WITH MAX_USER_CONNECTIONS {spec.ConnectionLimit}";
        yield return $"GRANT {MariaDbAdapter.TenantPrivileges} ON {MariaDbGrantPattern(spec.DbName)}.* TO {user}";
    }

    private static TenantSpec Spec(string run, int slot) =>
        new(DatabaseName(EngineKind.MariaDb, run, slot), UserName(EngineKind.MariaDb, run, slot), Convert.ToHexString(RandomNumberGenerator.GetBytes(12)), 10);

    private static async Task ExecAsync(MySqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
