using System.Diagnostics;
using System.Net;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Tests.Api;

/// <summary>ENGINE_UNAVAILABLE from a frozen engine, with time bounds: in the <see cref="TimingSensitive"/> collection,
/// so the bounds measure HepDb and not the rest of the suite competing for the same cores.</summary>
public abstract class FrozenEngineTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    [Collection(TimingSensitive.Name)]
    public sealed class OnSqlite(EngineServers engines) : FrozenEngineTests(engines.On(Metadata.Sqlite));
    [Collection(TimingSensitive.Name)]
    public sealed class OnPostgres(EngineServers engines) : FrozenEngineTests(engines.On(Metadata.Postgres));

    /// <summary>A server that is frozen (SIGSTOP) keeps its port open and its pooled connections alive, but answers
    /// nothing. Fifty tenants create a database at once: every create must still end at the connect timeout (not hang on
    /// a pooled connection), the liveness endpoint keeps answering meanwhile, and after SIGCONT nothing is left of the
    /// refused creates. The figures are measured by <c>bench/run.sh frozen</c>; the bounds leave a slower machine room. A private MariaDB is used: freezing the shared one would stall other tests.</summary>
    [Fact]
    public async Task A_frozen_MariaDB_answers_50_concurrent_creates_with_ENGINE_UNAVAILABLE_within_the_connect_timeout()
    {
        await using var server = await PrivateMariaDb.StartAsync("frozen");
        var (root, options) = (server.Root, server.Options);
        var pid = 0;
        try
        {
            pid = int.Parse(File.ReadAllText(Path.Combine(root, "engines", "mariadb", "run", "mysqld.pid")).Trim());
            var connectTimeout = TimeSpan.FromSeconds(2);
            await using var app = new HepDbApp(engines, new()
            {
                ["Engines:MariaDb:Port"] = options.MariaDb.Port.ToString(),
                ["Engines:MariaDb:AdminPassword"] = options.MariaDb.AdminPassword,
                ["Engines:MariaDb:ConnectTimeout"] = connectTimeout.ToString(),
            });
            app.StartRealServer();
            var first = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), "mariadb", "before-the-freeze"); // leaves a pooled admin connection
            var tenants = new List<TestAccount>();
            for (var i = 0; i < 50; i++) tenants.Add(await app.CreateAccountAsync());
            // A running server has warm metadata-store pools and compiled queries; give this one the same start, so
            // what is measured below is the frozen engine and not cold start-up work.
            await Task.WhenAll(tenants.Select(async t => await Shape.SuccessAsync(await t.Api.GetAsync(Paths.Databases), HttpStatusCode.OK)));

            var health = app.ApiClient(null);
            Assert.Equal(HttpStatusCode.OK, (await health.GetAsync("/healthz")).StatusCode); // a warm connection, as a monitor has

            Signal("STOP", pid);
            using var stopPinging = new CancellationTokenSource();
            var pings = Task.Run(async () =>
            {
                var slowest = TimeSpan.Zero;
                while (!stopPinging.IsCancellationRequested)
                {
                    var sw = Stopwatch.StartNew();
                    Assert.Equal(HttpStatusCode.OK, (await health.GetAsync("/healthz")).StatusCode);
                    if (sw.Elapsed > slowest) slowest = sw.Elapsed;
                    await Task.Delay(20);
                }
                return slowest;
            });
            var creates = await Task.WhenAll(tenants.Select(async tenant =>
            {
                var sw = Stopwatch.StartNew();
                var response = await tenant.Api.PostAsync(Paths.Databases, Requests.Json(Requests.CreateBody("frozen")));
                var message = await Shape.FailureAsync(response, 503, "ENGINE_UNAVAILABLE");
                return (sw.Elapsed, message);
            }));
            await stopPinging.CancelAsync();
            var slowestPing = await pings;
            Signal("CONT", pid);

            var slowestCreate = creates.Max(c => c.Elapsed);
            Assert.True(slowestCreate < connectTimeout + TimeSpan.FromSeconds(3), $"slowest create answered after {slowestCreate.TotalMilliseconds:0} ms; all: {string.Join(" ", creates.Select(c => c.Elapsed.TotalMilliseconds).Order().Select(ms => ms.ToString("0")))}");
            Assert.True(slowestPing < TimeSpan.FromSeconds(1), $"slowest /healthz took {slowestPing.TotalMilliseconds:0} ms");
            Assert.All(creates, c => Assert.Contains("MariaDB", c.message, StringComparison.Ordinal));

            // Nothing is left: one record, and on the engine only the first database and its user.
            Assert.Equal(1, await app.WithDbAsync(db => db.Databases.CountAsync()));
            var objects = await app.Engine(Engines.EngineKind.MariaDb).ListTenantObjectsAsync(CancellationToken.None);
            Assert.Equal(new[] { first.DbName, first.DbUser }.Order(), objects.Databases.Concat(objects.Users).Order());
            await app.CreateDatabaseAsync(tenants[0], "mariadb", "after-the-thaw");
        }
        finally
        {
            if (pid > 0) Signal("CONT", pid);
        }
    }

    private static void Signal(string signal, int pid) => Process.Start("kill", [$"-{signal}", pid.ToString()])!.WaitForExit();
}
