using System.Diagnostics;
using System.Text.Json;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using HepDb.Tests.Infrastructure;
using Npgsql;

namespace HepDb.Tests.Foundation;

/// <summary>
/// A private engine server that dies while HepDb runs (here: <c>kill -9</c>) is serving again within 10 s without a HepDb
/// restart, is reported as restarting meanwhile, and a requested stop never brings it back. Each test starts its own
/// servers in a temporary folder: the shared ones of <see cref="EngineServers"/> are never killed.
/// </summary>
public sealed class LocalEnginesSupervisionTests(EngineServers engines)
{
    private static readonly TimeSpan ServingAgainWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_killed_local_MariaDB_is_restarted_and_readyz_says_so_meanwhile()
    {
        var port = EngineServers.FreePort();
        await using var app = new HepDbApp(engines, new()
        {
            ["Engines:MariaDb:Local"] = "true",
            ["Engines:MariaDb:Port"] = port.ToString(),
            ["Engines:MariaDb:AdminPassword"] = "",
            ["Engines:LocalDurable"] = "false",
        });
        var http = app.CreateClient(); // starts HepDb, and with it the local MariaDB
        var (status, mariadb) = await ReadyAsync(http);
        Assert.True(status == 200, mariadb.ToString());
        Assert.Equal("running", mariadb.GetProperty("supervisor").GetString());
        var root = $"mysql://root:{Uri.EscapeDataString(File.ReadAllText(Path.Combine(app.DataDir, "engines", "mariadb", "admin-password")).Trim())}@127.0.0.1:{port}/";
        Assert.True((await Clients.MariaDbAsync(root, "CREATE DATABASE survives_kill")).Ok);

        Kill9(PidIn(Path.Combine(app.DataDir, "engines", "mariadb", "run", "mysqld.pid")));
        var sw = Stopwatch.StartNew();
        var seen = new HashSet<string>();
        var seenByOtherProcess = false;
        while (true)
        {
            Assert.True(sw.Elapsed < ServingAgainWithin, $"MariaDB not serving {ServingAgainWithin.TotalSeconds} s after kill -9; /readyz said: {string.Join(", ", seen)}\n{app.Log.Text}");
            (status, mariadb) = await ReadyAsync(http);
            seen.Add($"{status} {mariadb.GetProperty("status").GetString()} ({mariadb.GetProperty("supervisor").GetString()})");
            if (mariadb.GetProperty("status").GetString() == "restarting") Assert.Equal(503, status);
            seenByOtherProcess |= new LocalEngineStatus(app.DataDir).Find(EngineKind.MariaDb) is { Restarting: true }; // what hepdb-admin reads
            if (status == 200 && (await Clients.MariaDbAsync(root, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'survives_kill'")) is { Ok: true } r)
            {
                Assert.Equal("survives_kill", r.Output.Trim());
                break;
            }
            await Task.Delay(50);
        }
        var restartedIn = sw.Elapsed;
        Assert.Contains(seen, s => s.StartsWith("503 restarting (restarting (attempt 1, last exit: signal 9)", StringComparison.Ordinal));
        Assert.True(seenByOtherProcess, "the state file never said restarting");
        // The server answers a moment before its supervisor has finished the start path and says so.
        await WaitUntilAsync(() => new LocalEngineStatus(app.DataDir).Find(EngineKind.MariaDb) is { Restarting: false });
        (_, mariadb) = await ReadyAsync(http);
        Assert.Equal("running (restarted 1×, last exit: signal 9)", mariadb.GetProperty("supervisor").GetString());
        Assert.Contains(app.Log.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) && l.Contains("MariaDB: the server exited unexpectedly (signal 9)", StringComparison.Ordinal));
        TestContext.Current.TestOutputHelper?.WriteLine($"MariaDB serving again {restartedIn.TotalMilliseconds:0} ms after kill -9");

        await app.DisposeAsync(); // a requested stop: the server goes and stays gone
        await AssertStaysStoppedAsync(app.DataDir);
        Assert.Single(app.Log.Lines, l => l.Contains("exited unexpectedly", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_killed_local_PostgreSQL_postmaster_is_restarted_once_its_children_are_gone()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"hepdb-supervise-{Guid.NewGuid():N}");
        var options = new EnginesOptions { LocalDurable = false };
        options.MariaDb.Local = false;
        options.Mongo.Local = false;
        options.Postgres.Port = EngineServers.FreePort();
        var log = new CapturedLog();
        var servers = new LocalEngineServers(dataDir, options, log.CreateLogger("LocalEngineServers"));
        try
        {
            await servers.StartAsync(TestContext.Current.CancellationToken);
            var admin = $"postgresql://postgres:{Uri.EscapeDataString(options.Postgres.AdminPassword!)}@127.0.0.1:{options.Postgres.Port}/postgres";
            Assert.True((await Clients.PsqlAsync(admin, "CREATE DATABASE survives_kill")).Ok);
            // A session busy in a query, whose backend is held stopped across the kill: it outlives the postmaster by 2 s
            // and keeps the old shared memory attached, which makes PostgreSQL refuse to start until it has gone.
            await using var busy = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
            {
                Host = "127.0.0.1", Port = options.Postgres.Port, Username = "postgres", Password = options.Postgres.AdminPassword, Database = "postgres", Pooling = false,
            }.ConnectionString);
            await busy.OpenAsync(TestContext.Current.CancellationToken);
            var backend = busy.ProcessID;
            var sleeping = new NpgsqlCommand("SELECT pg_sleep(30)", busy).ExecuteNonQueryAsync(TestContext.Current.CancellationToken);

            Signal("STOP", backend);
            Kill9(PidIn(Path.Combine(dataDir, "engines", "postgres", "data", "postmaster.pid")));
            var sw = Stopwatch.StartNew();
            var resumed = Task.Delay(2000).ContinueWith(_ => Signal("CONT", backend), TaskScheduler.Default);
            var sawRestarting = false;
            while (true)
            {
                Assert.True(sw.Elapsed < ServingAgainWithin, $"PostgreSQL not serving {ServingAgainWithin.TotalSeconds} s after kill -9\n{log.Text}");
                sawRestarting |= new LocalEngineStatus(dataDir).Find(EngineKind.Postgres) is { Restarting: true, LastExit: "signal 9" };
                if ((await Clients.PsqlAsync(admin, "SELECT datname FROM pg_database WHERE datname = 'survives_kill'")) is { Ok: true } r)
                {
                    Assert.Equal("survives_kill", r.Output.Trim());
                    break;
                }
                await Task.Delay(50);
            }
            TestContext.Current.TestOutputHelper?.WriteLine($"PostgreSQL serving again {sw.Elapsed.TotalMilliseconds:0} ms after kill -9");
            Assert.True(sawRestarting, $"never reported as restarting\n{log.Text}");
            await resumed;
            Assert.True(sw.Elapsed > TimeSpan.FromSeconds(2), "started while the old backend still held the shared memory");
            await Assert.ThrowsAnyAsync<Exception>(() => sleeping); // that session died with its server
            await WaitUntilAsync(() => servers.Status.Find(EngineKind.Postgres) is { Restarting: false, Restarts: 1 });

            await servers.StopAsync();
            Assert.Null(new LocalEngineStatus(dataDir).Find(EngineKind.Postgres));
            await AssertStaysStoppedAsync(dataDir);
            Assert.Single(log.Lines, l => l.Contains("exited unexpectedly", StringComparison.Ordinal));
            Assert.DoesNotContain(log.Lines, l => l.Contains("failed; next attempt", StringComparison.Ordinal)); // the first start after the wait worked
            Assert.Contains(log.Lines, l => l.Contains("PostgreSQL: waited", StringComparison.Ordinal) && l.Contains("shared memory", StringComparison.Ordinal));
        }
        finally
        {
            await servers.DisposeAsync();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public async Task Engine_list_shows_a_local_server_being_restarted_by_the_running_HepDb()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        // What the supervising HepDb (this test process stands in for it) wrote while restarting its MariaDB.
        new LocalEngineStatus(app.DataDir).Report(EngineKind.MariaDb, new LocalEngineState(true, 3, 0, "signal 9", DateTime.UtcNow, Environment.ProcessId));
        var env = new Dictionary<string, string>
        {
            ["HepDb__DataDir"] = app.DataDir,
            ["Engines__MariaDb__Port"] = EngineServers.FreePort().ToString(), // nothing answers there: the server is down
            ["Engines__Postgres__Local"] = "false",
            ["Engines__Postgres__Port"] = engines.Engines.Postgres.Port.ToString(),
            ["Engines__Postgres__AdminPassword"] = engines.Engines.Postgres.AdminPassword!,
            ["Engines__Mongo__Enabled"] = "false",
        };
        var list = await Clients.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "hepdb-admin.dll"), "engine", "list"], env);
        Assert.True(list.Ok, list.ToString());
        var health = list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(l => l.Split('\t')[0], l => l.Split('\t')[2]);
        Assert.Equal("restarting (attempt 3, last exit: signal 9)", health["mariadb"]);
        Assert.Equal("up", health["postgres"]);
    }

    [Fact]
    public void Restarts_back_off_from_half_a_second_to_thirty()
    {
        Assert.Equal([0.5, 1, 2, 4, 8, 16, 30, 30], Enumerable.Range(1, 8).Select(a => LocalEngineServers.PauseBefore(a).TotalSeconds));
        Assert.Equal(30, LocalEngineServers.PauseBefore(1000).TotalSeconds);
        Assert.Equal("signal 9", LocalEngineServers.DescribeExit(137));
        Assert.Equal("exit code 1", LocalEngineServers.DescribeExit(1));
    }

    private static async Task<(int Status, JsonElement MariaDb)> ReadyAsync(HttpClient http)
    {
        var response = await http.GetAsync("/readyz");
        var checks = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("checks");
        return ((int)response.StatusCode, checks.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "mariadb").Clone());
    }

    private static int PidIn(string pidFile) => int.Parse(File.ReadAllLines(pidFile)[0].Trim());

    private static void Kill9(int pid) => Signal("KILL", pid);

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", ["-s", signal, pid.ToString()]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>After a requested stop no engine process of the folder is left, and none comes back.</summary>
    private static async Task AssertStaysStoppedAsync(string dataDir)
    {
        await WaitUntilAsync(() => LocalEnginesTests.EngineProcesses(dataDir).Count == 0);
        await Task.Delay(TimeSpan.FromSeconds(2)); // longer than the first restart pause
        Assert.Empty(LocalEnginesTests.EngineProcesses(dataDir));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var sw = Stopwatch.StartNew(); !condition(); await Task.Delay(50))
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "condition not met within 30 s");
    }
}
