using System.Diagnostics;
using HepDb.Tests.Infrastructure;
using MySqlConnector;

namespace HepDb.Tests.Foundation;

/// <summary>
/// The real HepDb binary with its own private engine servers: they come up, keep their data across restarts, and
/// never outlive HepDb, whether it stops cleanly or is killed with SIGKILL.
/// </summary>
public sealed class LocalEnginesTests
{
    /// <summary>What the HepDb processes printed, shown when the test fails.</summary>
    private static readonly List<string> Output = [];

    private static string Printed() { lock (Output) return string.Join('\n', Output.TakeLast(40)); }

    [Fact]
    public async Task Engines_start_keep_data_and_never_outlive_HepDb()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"hepdb-life-{Guid.NewGuid():N}");
        var ports = (Http: EngineServers.FreePort(), MariaDb: EngineServers.FreePort(), Postgres: EngineServers.FreePort());
        try
        {
            using (var first = StartHepDb(dataDir, ports))
            {
                await WaitReadyAsync(ports.Http, first);
                Assert.NotEmpty(EngineProcesses(dataDir));
                await using var s = await AdminSessionAsync(dataDir, ports.MariaDb);
                await s.ExecAsync("CREATE DATABASE survives_restart");
                first.Kill(); // SIGKILL: HepDb gets no chance to clean up; the watchdogs must.
                await first.WaitForExitAsync();
            }
            await WaitUntilAsync(() => EngineProcesses(dataDir).Count == 0, TimeSpan.FromSeconds(30), "engines survived a SIGKILLed HepDb");

            using (var second = StartHepDb(dataDir, ports))
            {
                await WaitReadyAsync(ports.Http, second);
                await using (var s = await AdminSessionAsync(dataDir, ports.MariaDb))
                    Assert.Equal("1", await s.ScalarAsync("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'survives_restart'"));
                Process.Start("kill", ["-TERM", second.Id.ToString()]).WaitForExit();
                await second.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            Assert.Empty(EngineProcesses(dataDir));
        }
        finally
        {
            foreach (var pid in EngineProcesses(dataDir)) try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { }
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>A clone under <c>/root</c> (mode 0700) puts the data folder where the postgres user cannot pass; PostgreSQL
    /// must start there anyway, with nothing more than search permission granted to that one user.</summary>
    [Fact]
    public async Task PostgreSQL_starts_in_a_data_folder_below_a_private_directory()
    {
        var home = Path.Combine(Path.GetTempPath(), $"hepdb-private-{Guid.NewGuid():N}");
        Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var engines = new HepDb.Hosting.EnginesOptions { LocalDurable = false };
        engines.MariaDb.Local = false;
        engines.Mongo.Local = false;
        engines.Postgres.Port = EngineServers.FreePort();
        var servers = new HepDb.Hosting.LocalEngines.LocalEngineServers(Path.Combine(home, "clone", "data"), engines,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        try
        {
            await servers.StartAsync(CancellationToken.None);
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={engines.Postgres.Port};Username=postgres;Password={engines.Postgres.AdminPassword};Database=postgres;Pooling=false");
            await conn.OpenAsync();
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(home) & ~UnixFileMode.GroupExecute);
            var acl = Process.Start(new ProcessStartInfo("getfacl", ["-c", home]) { RedirectStandardOutput = true })!;
            Assert.Contains("user:postgres:--x", await acl.StandardOutput.ReadToEndAsync());
        }
        finally
        {
            await servers.StopAsync();
            try { Directory.Delete(home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static Process StartHepDb(string dataDir, (int Http, int MariaDb, int Postgres) ports)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "HepDb.dll"));
        psi.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{ports.Http}";
        psi.Environment["HepDb__DataDir"] = dataDir;
        psi.Environment["Engines__MariaDb__Port"] = ports.MariaDb.ToString();
        psi.Environment["Engines__Postgres__Port"] = ports.Postgres.ToString();
        psi.Environment["Engines__Mongo__Enabled"] = "false";
        psi.Environment["Engines__LocalDurable"] = "false";
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (Output) Output.Add(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (Output) Output.Add(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static async Task WaitReadyAsync(int port, Process hepdb)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(120))
        {
            Assert.False(hepdb.HasExited, $"HepDb exited during start:\n{Printed()}");
            try
            {
                var r = await http.GetAsync($"http://127.0.0.1:{port}/readyz");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        Assert.Fail($"HepDb did not become ready within 120 s:\n{Printed()}");
    }

    private static Task<MySqlConnection> AdminSessionAsync(string dataDir, int port) =>
        MariaDbConnections.OpenAsync("127.0.0.1", port, "root", File.ReadAllText(Path.Combine(dataDir, "engines", "mariadb", "admin-password")).Trim());

    /// <summary>Engine processes whose command line mentions this data folder.</summary>
    internal static List<int> EngineProcesses(string dataDir) =>
        Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : -1).Where(pid => pid > 0)
            .Where(pid =>
            {
                try
                {
                    var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                    return cmd.Contains(dataDir, StringComparison.Ordinal) && (cmd.Contains("mariadbd", StringComparison.Ordinal) || cmd.Contains("postgres", StringComparison.Ordinal));
                }
                catch (IOException) { return false; }
                catch (UnauthorizedAccessException) { return false; }
            }).ToList();

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string failure)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < timeout, $"{failure}\n{Printed()}");
            await Task.Delay(100);
        }
    }
}
