using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Security;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Foundation;

/// <summary>A size scan measures the databases it is given, in one query, on the real servers: the cost follows one
/// store's databases, not every database on a shared server (the servers here hold every test's databases).</summary>
public sealed class SizeScanTests(EngineServers engines)
{
    [Theory, MemberData(nameof(EngineAdapterTests.Kinds), MemberType = typeof(EngineAdapterTests))]
    public async Task Only_the_named_databases_are_measured_in_one_query(string engine)
    {
        var kind = EngineKinds.Parse(engine);
        var adapter = engines.Admin(kind);
        var slug = Secrets.Generate(10).ToLowerInvariant();
        var ours = Spec(kind, slug, 1);
        var other = Spec(kind, slug, 2);
        await adapter.CreateTenantAsync(ours, Ct);
        await adapter.CreateTenantAsync(other, Ct);
        try
        {
            var fill = kind == EngineKind.MariaDb
                ? "CREATE TABLE t (x TEXT); INSERT INTO t SELECT REPEAT('x', 1000) FROM seq_1_to_500; ANALYZE TABLE t;"
                : "CREATE TABLE t (x text); INSERT INTO t SELECT repeat('x', 1000) FROM generate_series(1, 500);";
            Assert.True((await Clients.SqlAsync(adapter.ConnectionString(ours.DbName, ours.User, ours.Password), fill)).Ok);

            var missing = TenantNames.DatabaseName(kind, slug, 3);
            var scan = await adapter.MeasureSizesAsync([ours.DbName, missing], Ct);
            Assert.Equal(1, scan.Queries);
            Assert.Equal([ours.DbName], scan.Bytes.Keys); // not the other database on the server, and nothing for a name it lacks
            Assert.True(scan.Bytes[ours.DbName] > 0);

            var none = await adapter.MeasureSizesAsync([], Ct);
            Assert.Empty(none.Bytes);
        }
        finally
        {
            await adapter.DropTenantAsync(ours.DbName, ours.User, Ct);
            await adapter.DropTenantAsync(other.DbName, other.User, Ct);
        }
    }

    [Theory, MemberData(nameof(EngineAdapterTests.Kinds), MemberType = typeof(EngineAdapterTests))]
    public async Task A_scan_with_nothing_to_measure_still_reports_an_unreachable_server(string engine)
    {
        var kind = EngineKinds.Parse(engine);
        var options = kind == EngineKind.MariaDb ? engines.Engines.MariaDb : engines.Engines.Postgres;
        var down = new HepDb.Hosting.EngineServerOptions { Host = options.Host, Port = EngineServers.FreePort(), AdminPassword = options.AdminPassword };
        if (kind == EngineKind.MariaDb)
        {
            await using var adapter = new MariaDbAdapter(down);
            await Assert.ThrowsAsync<EngineUnavailableException>(() => adapter.MeasureSizesAsync([], Ct));
        }
        else
        {
            await using var adapter = new PostgresAdapter(down);
            await Assert.ThrowsAsync<EngineUnavailableException>(() => adapter.MeasureSizesAsync([], Ct));
        }
    }

    private static TenantSpec Spec(EngineKind kind, string slug, int slot) =>
        new(TenantNames.DatabaseName(kind, slug, slot), TenantNames.UserName(kind, slug, slot), Secrets.NewDatabasePassword(), 5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
}
