using System.Net.Http.Json;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Fleet;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Fleet;

/// <summary>
/// Several engine servers per engine, with real servers and clients: the shared MariaDB/PostgreSQL servers are each
/// engine's configured server (<c>default</c>), the <see cref="SecondServers"/> are added as <c>b</c>.
/// </summary>
public sealed class FleetTests(EngineServers engines, SecondServers second)
{
    private static async Task<FleetServer> AddAsync(HepDbApp app, string engine, string name, ServerSettings settings)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var added = await scope.ServiceProvider.GetRequiredService<FleetService>().AddAsync(engine, name, settings, Actor.Operator, CancellationToken.None);
        Assert.True(added.Ok, added.Problem?.Message);
        return added.Value!;
    }

    private static async Task SetAsync(HepDbApp app, string name, string engine, ServerSettings settings)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var set = await scope.ServiceProvider.GetRequiredService<FleetService>().SetAsync(name, engine, settings, Actor.Operator, CancellationToken.None);
        Assert.True(set.Ok, set.Problem?.Message);
    }

    /// <summary>Adds the second server as <c>b</c> and creates a database of a new Premium account on the default server
    /// (b drained meanwhile, so placement cannot choose it), ready to be moved.</summary>
    private async Task<(TestAccount Account, CreatedDatabase Database)> OnDefaultBesideBAsync(HepDbApp app, string engine)
    {
        await AddAsync(app, engine, "b", second.Settings(engine, maxDatabases: 100));
        await SetAsync(app, "b", engine, new ServerSettings(State: ServerState.Draining));
        var account = await app.CreateAccountAsync(Tier.Premium);
        var created = await app.CreateDatabaseAsync(account, engine);
        Assert.Equal($"{engine}/default", await ServerOfAsync(app, created.Id));
        await SetAsync(app, "b", engine, new ServerSettings(State: ServerState.Active));
        return (account, created);
    }

    private static Task<string> ServerOfAsync(HepDbApp app, string id) =>
        app.WithDbAsync(db => db.Databases.AsNoTracking().Where(d => d.Id == id).Select(d => d.ServerId).SingleAsync());

    private static async Task<CreatedDatabase> RevealAsync(TestAccount account, string id)
    {
        var data = await ApiAssert.OkAsync(await account.Api.GetAsync($"/api/v1/db/databases/{id}"));
        return CreatedDatabase.Parse($"{{\"data\":{data.GetRawText()}}}");
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task Placement_fills_by_headroom_and_refuses_with_no_room_left_anywhere(string engine)
    {
        var key = engine == "mariadb" ? "MariaDb" : "Postgres";
        await using var app = new HepDbApp(engines, new() { [$"Engines:{key}:MaxDatabases"] = "2" });
        await AddAsync(app, engine, "b", second.Settings(engine, maxDatabases: 6));
        var account = await app.CreateAccountAsync(Tier.Admin);

        // Most normalized headroom first, ties by name ("b" before "default"): default holds 2 at most, b 6.
        var placed = new List<(CreatedDatabase Db, string Server)>();
        for (var i = 0; i < 8; i++)
        {
            var created = await app.CreateDatabaseAsync(account, engine, $"db-{i}");
            placed.Add((created, await ServerOfAsync(app, created.Id)));
        }
        Assert.Equal(new[] { "b", "default", "b", "b", "b", "default", "b", "b" }.Select(n => $"{engine}/{n}"), placed.Select(p => p.Server));

        // Each connection string names its own server, and each database works there with its own user, and only there.
        var bPort = engine == "mariadb" ? second.Engines.MariaDb.Port : second.Engines.Postgres.Port;
        var defaultPort = engine == "mariadb" ? engines.Engines.MariaDb.Port : engines.Engines.Postgres.Port;
        foreach (var (db, server) in placed)
        {
            Assert.Equal(server.EndsWith("/b", StringComparison.Ordinal) ? bPort : defaultPort, db.Port);
            var ok = await Clients.SqlAsync(db.ConnectionString, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1); SELECT COUNT(*) FROM t;");
            Assert.True(ok.Ok, ok.ToString());
        }
        var onB = placed.First(p => p.Server.EndsWith("/b", StringComparison.Ordinal)).Db;
        var onDefault = placed.First(p => p.Server.EndsWith("/default", StringComparison.Ordinal)).Db;
        var elsewhere = new UriBuilder(onB.ConnectionString) { Port = defaultPort }.Uri.ToString();
        Assert.False((await Clients.SqlAsync(elsewhere, "SELECT 1")).Ok, "a user of server b logged in on the default server");
        var across = Clients.WithDatabase(onB.ConnectionString, onDefault.DbName);
        Assert.False((await Clients.SqlAsync(new UriBuilder(across) { Port = defaultPort }.Uri.ToString(), "SELECT 1")).Ok);

        // Both full: 503 ENGINE_UNAVAILABLE saying so, and nothing reserved.
        var before = await app.WithDbAsync(db => db.Databases.CountAsync());
        var refused = await account.Api.PostAsJsonAsync("/api/v1/db/databases", new { name = "one-too-many", engine });
        var message = await ApiAssert.ErrorAsync(refused, 503, "ENGINE_UNAVAILABLE");
        Assert.Contains("has room", message, StringComparison.Ordinal);
        Assert.Equal(before, await app.WithDbAsync(db => db.Databases.CountAsync()));
    }

    [Fact]
    public async Task A_record_stored_without_a_server_counts_against_its_engines_configured_server()
    {
        // A replica older than the fleet stores records with no server; they live on (and are routed to) the configured
        // server, so they fill its capacity like any other.
        await using var app = new HepDbApp(engines, new() { ["Engines:MariaDb:MaxDatabases"] = "1" });
        var account = await app.CreateAccountAsync(Tier.Admin);
        var legacy = await app.CreateDatabaseAsync(account, "mariadb", "legacy");
        await app.WithDbAsync(db => db.Databases.Where(d => d.Id == legacy.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.ServerId, "")));

        var refused = await account.Api.PostAsJsonAsync("/api/v1/db/databases", new { name = "no-room", engine = "mariadb" });
        await ApiAssert.ErrorAsync(refused, 503, "ENGINE_UNAVAILABLE");
        Assert.True((await Clients.SqlAsync(legacy.ConnectionString, "SELECT 1")).Ok, "the record without a server should still reach its database");
    }

    [Fact]
    public async Task An_added_server_takes_the_connect_timeout_configured_for_its_engine()
    {
        await using var app = new HepDbApp(engines, new() { ["Engines:MariaDb:ConnectTimeout"] = "00:00:07" });
        var added = await AddAsync(app, "mariadb", "b", second.Settings("mariadb", maxDatabases: 10));
        Assert.Equal(TimeSpan.FromSeconds(7), app.Services.GetRequiredService<EngineRegistry>().Server(added.Id)!.Adapter.Server.ConnectTimeout);
    }

    [Fact]
    public async Task A_draining_server_gets_nothing_new_and_takes_databases_again_when_undrained()
    {
        await using var app = new HepDbApp(engines, new() { ["Engines:MariaDb:MaxDatabases"] = "100" });
        await AddAsync(app, "mariadb", "b", second.Settings("mariadb", maxDatabases: 100));
        var account = await app.CreateAccountAsync(Tier.Admin);
        var first = await app.CreateDatabaseAsync(account, "mariadb", "first");
        Assert.Equal("mariadb/b", await ServerOfAsync(app, first.Id)); // b and default tie; b by name

        await SetAsync(app, "b", "mariadb", new ServerSettings(State: ServerState.Draining));
        for (var i = 0; i < 3; i++)
            Assert.Equal("mariadb/default", await ServerOfAsync(app, (await app.CreateDatabaseAsync(account, "mariadb", $"d-{i}")).Id));
        // Its databases keep working meanwhile.
        Assert.True((await Clients.SqlAsync(first.ConnectionString, "SELECT 1")).Ok);

        // Undrained, b has the more headroom again (1 of 100 against 3 of 100).
        await SetAsync(app, "b", "mariadb", new ServerSettings(State: ServerState.Active));
        Assert.Equal("mariadb/b", await ServerOfAsync(app, (await app.CreateDatabaseAsync(account, "mariadb", "again")).Id));
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task A_moved_database_keeps_its_data_user_and_password_and_only_its_host_and_port_change(string engine)
    {
        await using var app = new HepDbApp(engines);
        var (account, created) = await OnDefaultBesideBAsync(app, engine);
        var fill = engine == "mariadb"
            ? "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100)); INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_5000; CREATE VIEW v AS SELECT COUNT(*) AS n FROM t;"
            : "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g; CREATE VIEW v AS SELECT COUNT(*) AS n FROM t;";
        Assert.True((await Clients.SqlAsync(created.ConnectionString, fill)).Ok);
        var checksum = engine == "mariadb"
            ? "SELECT MD5(GROUP_CONCAT(id, v ORDER BY id SEPARATOR ',')) FROM t; SELECT n FROM v;"
            : "SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM t; SELECT n FROM v;";
        if (engine == "mariadb") Assert.True((await Clients.SqlAsync(created.ConnectionString, "SET SESSION group_concat_max_len = 1000000")).Ok);
        var sum = engine == "mariadb" ? "SET SESSION group_concat_max_len = 1000000; " + checksum : checksum;
        var before = await Clients.SqlAsync(created.ConnectionString, sum);
        Assert.True(before.Ok, before.ToString());

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var moved = await scope.ServiceProvider.GetRequiredService<DatabaseMover>().MoveAsync(created.Id, "b", Actor.Operator, CancellationToken.None);
            Assert.True(moved.Ok, moved.Problem?.Message);
            Assert.Equal($"{engine}/b", moved.Value!.To);
        }

        Assert.Equal($"{engine}/b", await ServerOfAsync(app, created.Id));
        var after = await RevealAsync(account, created.Id);
        Assert.Equal(created.Password, after.Password);
        Assert.Equal(created.DbUser, after.DbUser);
        Assert.Equal(created.DbName, after.DbName);
        Assert.Equal(engine == "mariadb" ? second.Engines.MariaDb.Port : second.Engines.Postgres.Port, after.Port);
        Assert.Equal(new UriBuilder(created.ConnectionString) { Port = after.Port }.Uri, new Uri(after.ConnectionString));
        var moved2 = await Clients.SqlAsync(after.ConnectionString, sum);
        Assert.True(moved2.Ok, moved2.ToString());
        Assert.Equal(before.Output, moved2.Output);
        // Writes work there (they were blocked only during the copy), and the old server keeps nothing of it.
        Assert.True((await Clients.SqlAsync(after.ConnectionString, "INSERT INTO t VALUES (5001, 'new')")).Ok);
        var old = await app.Engine(EngineKinds.Parse(engine)).ListTenantObjectsAsync(CancellationToken.None);
        Assert.DoesNotContain(created.DbName, old.Databases);
        Assert.DoesNotContain(created.DbUser, old.Users);
        Assert.False((await Clients.SqlAsync(created.ConnectionString, "SELECT 1")).Ok);
        var audit = await app.WithDbAsync(db => db.AuditLog.AsNoTracking().Where(a => a.TargetId == created.Id && a.Action == "database.moved").ToListAsync());
        Assert.Equal($"{engine}/default -> {engine}/b", Assert.Single(audit).Detail);

        // A reconciler pass finds nothing to drop on either server: the moved copy is known where it now lives.
        var report = await app.Services.GetRequiredService<Reconciler>().RunOnceAsync(CancellationToken.None, requireLease: false);
        Assert.Equal(0, report!.OrphansDropped);
        Assert.True((await Clients.SqlAsync(after.ConnectionString, "SELECT COUNT(*) FROM t")).Ok);
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task A_moved_database_keeps_its_allowlist_and_its_suspension_on_the_new_server(string engine)
    {
        await using var app = new HepDbApp(engines);
        var (account, created) = await OnDefaultBesideBAsync(app, engine);
        Assert.True((await Clients.SqlAsync(created.ConnectionString, "CREATE TABLE t (id INT); INSERT INTO t VALUES (1);")).Ok);
        // Allowed only from a range this machine is not in; then the account is suspended.
        await ApiAssert.OkAsync(await account.Api.PutAsJsonAsync($"/api/v1/db/databases/{created.Id}/allowlist", new { cidrs = new[] { "10.9.8.0/24" } }));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var suspended = await scope.ServiceProvider.GetRequiredService<Suspension>().SuspendAsync(account.Id, "testing a move", Actor.Operator, CancellationToken.None);
            Assert.True(suspended.Ok && suspended.Value!.Count == 0, suspended.Problem?.Message);
            var moved = await scope.ServiceProvider.GetRequiredService<DatabaseMover>().MoveAsync(created.Id, $"{engine}/b", Actor.Operator, CancellationToken.None);
            Assert.True(moved.Ok, moved.Problem?.Message);
        }
        var onB = new UriBuilder(created.ConnectionString) { Port = engine == "mariadb" ? second.Engines.MariaDb.Port : second.Engines.Postgres.Port }.Uri.ToString();
        Assert.False((await Clients.SqlAsync(onB, "SELECT 1")).Ok, "a suspended, allowlisted database should refuse this login on its new server");

        // Lifted, it is still allowlisted there; cleared, the login works and so do writes.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var lifted = await scope.ServiceProvider.GetRequiredService<Suspension>().LiftAsync(account.Id, "done", Actor.Operator, CancellationToken.None);
            Assert.True(lifted.Ok && lifted.Value!.Count == 0, lifted.Problem?.Message);
        }
        Assert.False((await Clients.SqlAsync(onB, "SELECT 1")).Ok, "the allowlist should hold on the new server");
        await ApiAssert.OkAsync(await account.Api.PutAsJsonAsync($"/api/v1/db/databases/{created.Id}/allowlist", new { cidrs = Array.Empty<string>() }));
        Assert.True((await Clients.SqlAsync(onB, "INSERT INTO t VALUES (2)")).Ok);
        Assert.Equal("2", (await Clients.SqlAsync(onB, "SELECT COUNT(*) FROM t")).Output.Trim());
    }

    [Fact]
    public async Task A_move_cut_short_before_the_switch_is_rolled_back_to_exactly_one_live_copy()
    {
        await using var app = new HepDbApp(engines);
        var (account, created) = await OnDefaultBesideBAsync(app, "mariadb");
        Assert.True((await Clients.SqlAsync(created.ConnectionString, "CREATE TABLE t (id INT); INSERT INTO t VALUES (1), (2);")).Ok);

        // The move stops after the copy, as a crash there would leave it: the target has a full copy, the source is
        // write-blocked, the record still points at the source.
        await MoveCutAtAsync(app, created.Id, "copied");
        var onB = new UriBuilder(created.ConnectionString) { Port = second.Engines.MariaDb.Port }.Uri.ToString();
        Assert.True((await Clients.SqlAsync(onB, "SELECT COUNT(*) FROM t")).Ok, "the cut move should have left a copy on b");
        Assert.False((await Clients.SqlAsync(created.ConnectionString, "INSERT INTO t VALUES (3)")).Ok, "writes should be blocked on the source mid-move");

        var report = await app.Services.GetRequiredService<Reconciler>().RunOnceAsync(CancellationToken.None, requireLease: false);
        Assert.Equal(1, report!.MovesRolledBack);
        Assert.Equal("mariadb/default", await ServerOfAsync(app, created.Id));
        Assert.Null(await app.WithDbAsync(db => db.Databases.AsNoTracking().Where(d => d.Id == created.Id).Select(d => d.MoveToServerId).SingleAsync()));
        Assert.False((await Clients.SqlAsync(onB, "SELECT 1")).Ok, "the copy on b should be gone");
        var write = await Clients.SqlAsync(created.ConnectionString, "INSERT INTO t VALUES (3); SELECT COUNT(*) FROM t;");
        Assert.True(write.Ok, write.ToString());
        Assert.Equal("3", write.Output.Trim());
    }

    private static readonly AsyncLocal<string?> AsyncLocalMoveId = new();

    /// <summary>Moves the database to <c>b</c> and stops the move right after <paramref name="step"/>, as a crash there
    /// would (only this test's move: others may run beside it).</summary>
    private static async Task MoveCutAtAsync(HepDbApp app, string databaseId, string step)
    {
        await app.ReconcilerStarted; // its pass at start must not finish off the cut move before the test's own pass
        DatabaseMover.AfterStep = s => s == step && AsyncLocalMoveId.Value == databaseId ? throw new OperationCanceledException("crash") : Task.CompletedTask;
        try
        {
            AsyncLocalMoveId.Value = databaseId;
            await using var scope = app.Services.CreateAsyncScope();
            await Assert.ThrowsAsync<OperationCanceledException>(() =>
                scope.ServiceProvider.GetRequiredService<DatabaseMover>().MoveAsync(databaseId, "b", Actor.Operator, CancellationToken.None));
        }
        finally
        {
            DatabaseMover.AfterStep = null;
            AsyncLocalMoveId.Value = null;
        }
    }

    [Fact]
    public async Task A_move_cut_short_after_the_switch_leaves_the_source_copy_to_the_reconciler_as_an_orphan()
    {
        await using var app = new HepDbApp(engines);
        var (account, created) = await OnDefaultBesideBAsync(app, "postgres");
        Assert.True((await Clients.SqlAsync(created.ConnectionString, "CREATE TABLE t (id INT); INSERT INTO t VALUES (1), (2);")).Ok);

        await MoveCutAtAsync(app, created.Id, "switched");
        // Switched: the record names b, and the source still has its (write-blocked) copy.
        Assert.Equal("postgres/b", await ServerOfAsync(app, created.Id));
        Assert.Contains(created.DbName, (await app.Engine(EngineKind.Postgres).ListTenantObjectsAsync(CancellationToken.None)).Databases);

        var report = await app.Services.GetRequiredService<Reconciler>().RunOnceAsync(CancellationToken.None, requireLease: false);
        Assert.Equal(0, report!.MovesRolledBack);
        Assert.Equal(1, report.OrphansDropped);
        var old = await app.Engine(EngineKind.Postgres).ListTenantObjectsAsync(CancellationToken.None);
        Assert.DoesNotContain(created.DbName, old.Databases);
        Assert.DoesNotContain(created.DbUser, old.Users);
        var live = await RevealAsync(account, created.Id);
        Assert.Equal(second.Engines.Postgres.Port, live.Port);
        Assert.True((await Clients.SqlAsync(live.ConnectionString, "INSERT INTO t VALUES (3)")).Ok);
        Assert.Equal("3", (await Clients.SqlAsync(live.ConnectionString, "SELECT COUNT(*) FROM t")).Output.Trim());
    }

    [Fact]
    public async Task Kill_9_of_the_operator_tool_mid_move_converges_to_exactly_one_live_copy()
    {
        // The target is a MariaDB server of this test's own, frozen (SIGSTOP) as soon as the move is under way, so the
        // tool is killed in the middle of the copy whatever the machine's speed.
        await using var target = await PrivateMariaDb.StartAsync("fleet-kill");
        await using var app = new HepDbApp(engines);
        var o = target.Options.MariaDb;
        await AddAsync(app, "mariadb", "c", new ServerSettings(Host: "127.0.0.1", Port: o.Port, AdminUser: "root", AdminPassword: o.AdminPassword,
            MaxDatabases: 100, RequireTls: true, CaCertificateFile: o.CaCertificateFile));
        await SetAsync(app, "c", "mariadb", new ServerSettings(State: ServerState.Draining));
        var account = await app.CreateAccountAsync(Tier.Premium);
        var created = await app.CreateDatabaseAsync(account, "mariadb");
        await SetAsync(app, "c", "mariadb", new ServerSettings(State: ServerState.Active));
        Assert.True((await Clients.SqlAsync(created.ConnectionString,
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(300)); INSERT INTO t SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_150000;")).Ok);
        const string sum = "SELECT COUNT(*), SUM(CRC32(CONCAT(id, ':', v))) FROM t";
        var before = await Clients.SqlAsync(created.ConnectionString, sum);

        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "hepdb-admin.dll"), "server", "move", "--database", created.Id, "--to", "c" }) psi.ArgumentList.Add(a);
        foreach (var (k, v) in HepDb.Tests.Operator.OperatorTool.Environment(app)) psi.Environment[k] = v;
        // Its servers (both) get a connect timeout that a loaded machine cannot run out of: the kill must cut a live move.
        psi.Environment["Engines__MariaDb__ConnectTimeout"] = "00:00:30";
        var pid = File.ReadAllText(Path.Combine(target.Root, "engines", "mariadb", "run", "mysqld.pid")).Trim();
        await app.ReconcilerStarted; // its pass at start must not roll the move back before the test's own pass
        using var tool = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var noted = false;
            for (var deadline = DateTime.UtcNow.AddSeconds(30); !noted && !tool.HasExited && DateTime.UtcNow < deadline; await Task.Delay(10))
                noted = await app.WithDbAsync(db => db.Databases.AsNoTracking().AnyAsync(d => d.Id == created.Id && d.MoveToServerId != null));
            await Signal("STOP", pid);
            if (!noted) Assert.Fail($"the move never started: {await tool.StandardError.ReadToEndAsync()}");
            await Task.Delay(500);
            if (tool.HasExited) Assert.Fail($"the move ended before the kill (exit {tool.ExitCode}): {await tool.StandardOutput.ReadToEndAsync()} {await tool.StandardError.ReadToEndAsync()}");
            tool.Kill(entireProcessTree: false); // SIGKILL: no cleanup of any kind
            await tool.WaitForExitAsync();
        }
        finally
        {
            await Signal("CONT", pid);
        }

        // Converge: the reconciler takes over the dead process's lock at once and rolls the move back.
        var reconciler = app.Services.GetRequiredService<Reconciler>();
        var report = await reconciler.RunOnceAsync(CancellationToken.None, requireLease: false);
        Assert.Equal(1, report!.MovesRolledBack);
        await reconciler.RunOnceAsync(CancellationToken.None, requireLease: false);

        var record = await app.WithDbAsync(db => db.Databases.AsNoTracking().SingleAsync(d => d.Id == created.Id));
        Assert.Null(record.MoveToServerId);
        Assert.Equal("mariadb/default", record.ServerId);
        var holders = new List<string>();
        foreach (var server in app.Services.GetRequiredService<EngineRegistry>().ServersOf(EngineKind.MariaDb))
        {
            var objects = await server.Adapter.ListTenantObjectsAsync(CancellationToken.None);
            if (objects.Databases.Contains(created.DbName) || objects.Users.Contains(created.DbUser)) holders.Add(server.Id);
        }
        Assert.Equal([record.ServerId], holders);
        var live = await RevealAsync(account, created.Id);
        Assert.Equal(created.Password, live.Password);
        var after = await Clients.SqlAsync(live.ConnectionString, sum);
        Assert.True(after.Ok, after.ToString());
        Assert.Equal(before.Output, after.Output);
        Assert.True((await Clients.SqlAsync(live.ConnectionString, "INSERT INTO t VALUES (0, 'after')")).Ok, "writes should be back");
        Assert.False(File.Exists(Path.Combine(app.DataDir, "moves", $"{created.Id}.dump")), "the dead move's copy file should be gone");
    }

    private static Task Signal(string signal, string pid) => System.Diagnostics.Process.Start("kill", [$"-{signal}", pid])!.WaitForExitAsync();

    [Fact]
    public async Task One_stopped_server_fails_only_its_own_databases_and_creates_go_to_the_other()
    {
        // A third MariaDB server of this test's own, so it can be stopped.
        await using var third = await PrivateMariaDb.StartAsync("fleet-stop");
        var options = third.Options;
        {
            await using var app = new HepDbApp(engines, new() { ["Engines:MariaDb:MaxDatabases"] = "1000" });
            await AddAsync(app, "mariadb", "c", new ServerSettings(Host: "127.0.0.1", Port: options.MariaDb.Port, AdminUser: "root",
                AdminPassword: options.MariaDb.AdminPassword, MaxDatabases: 1000, RequireTls: true, CaCertificateFile: options.MariaDb.CaCertificateFile));
            var account = await app.CreateAccountAsync(Tier.Admin);
            var onC = await app.CreateDatabaseAsync(account, "mariadb", "on-c"); // c before default by name
            Assert.Equal("mariadb/c", await ServerOfAsync(app, onC.Id));
            await SetAsync(app, "c", "mariadb", new ServerSettings(State: ServerState.Draining));
            var onDefault = await app.CreateDatabaseAsync(account, "mariadb", "on-default");
            await SetAsync(app, "c", "mariadb", new ServerSettings(State: ServerState.Active));

            await third.StopAsync();

            // c has the most headroom, so a create tries it first, cannot reach it, and goes on to default.
            var next = await app.CreateDatabaseAsync(account, "mariadb", "next");
            Assert.Equal("mariadb/default", await ServerOfAsync(app, next.Id));
            Assert.True((await Clients.SqlAsync(next.ConnectionString, "SELECT 1")).Ok);
            // Only c's database answers 503; default's work.
            await ApiAssert.ErrorAsync(await account.Api.PostAsync($"/api/v1/db/databases/{onC.Id}/rotate", null), 503, "ENGINE_UNAVAILABLE");
            await ApiAssert.OkAsync(await account.Api.PostAsync($"/api/v1/db/databases/{onDefault.Id}/rotate", null));
            // Readiness: MariaDB still has a server up, and the check of c says down.
            var ready = await app.CreateClient().GetAsync("/readyz");
            var body = await ready.Content.ReadAsStringAsync();
            Assert.True(ready.IsSuccessStatusCode, body);
            Assert.Contains("\"server\":\"c\"", body, StringComparison.Ordinal);
            // The watcher measures default and reports c failed.
            var scan = await app.Services.GetRequiredService<QuotaWatcher>().RunNowAsync(CancellationToken.None);
            Assert.False(scan.Servers.Single(s => s.Server == "mariadb/c").Ok);
            Assert.True(scan.Servers.Single(s => s.Server == "mariadb/default").Ok);
        }
    }
}
