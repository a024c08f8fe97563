using System.Diagnostics;
using System.Net.Sockets;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Security;
using MySqlConnector;
using Npgsql;

namespace HepDb.Hosting.LocalEngines;

/// <summary>
/// Private MariaDB and PostgreSQL servers (and MongoDB when a <c>mongod</c> binary is on PATH) under
/// <c>{DataDir}/engines/</c>: loopback only, data kept across restarts, admin passwords generated on first start and
/// kept next to the data (mode 0600). Used by <c>run</c> and, with its own folder and ports, by the test suite.
/// A server that exits on its own is restarted (see LocalEngineServers.Supervision.cs).
/// </summary>
public sealed partial class LocalEngineServers(string dataDir, EnginesOptions engines, ILogger logger, LocalEngineStatus? status = null) : IAsyncDisposable
{
    private readonly List<SupervisedProcess> _running = [];

    public string EnginesDir => Path.Combine(dataDir, "engines");

    /// <summary>Whether MongoDB can run locally: only when a <c>mongod</c> binary is on PATH.</summary>
    public static string? FindMongod() => FindOnPath("mongod");

    /// <summary>Fills in what HepDb knows of its local servers: admin credentials (generated once, then read from the
    /// data folder), the private CA's certificate and, for PostgreSQL, the pg_hba.conf HepDb manages.</summary>
    public static void ApplyLocalCredentials(EnginesOptions engines, string dataDir)
    {
        var enginesDir = Path.Combine(dataDir, "engines");
        foreach (var (kind, server) in Servers(engines))
        {
            if (!server.Local) continue;
            if (string.IsNullOrEmpty(server.AdminPassword))
                server.AdminPassword = ReadOrCreateSecret(Path.Combine(enginesDir, kind.WireName(), "admin-password"));
            if (server.EffectiveRequireTls) server.CaCertificateFile ??= LocalCertificates.Files(enginesDir).CaCertificate;
        }
        if (engines.Postgres.Local) engines.Postgres.HbaFile ??= Path.Combine(enginesDir, "postgres", "data", "pg_hba.conf");
    }

    /// <summary>The names the local servers' certificate must carry: each server's host and public host.</summary>
    private IEnumerable<string> TlsNames() =>
        Servers(engines).Where(s => s.Item2.Local).SelectMany(s => new[] { s.Item2.Host, s.Item2.PublicHost ?? "" });

    private bool AnyTls => Servers(engines).Any(s => s.Item2.Local && s.Item2.EffectiveRequireTls);

    public async Task StartAsync(CancellationToken ct)
    {
        ApplyLocalCredentials(engines, dataDir);
        if (AnyTls) LocalCertificates.Ensure(EnginesDir, TlsNames(), DateTimeOffset.UtcNow);
        if (engines.MariaDb.Local)
            await StartSupervisedAsync(EngineKind.MariaDb, Path.Combine(EnginesDir, "mariadb", "error.log"), c => StartMariaDbAsync(engines.MariaDb, c), ct);
        if (engines.Postgres.Local)
            await StartSupervisedAsync(EngineKind.Postgres, Path.Combine(EnginesDir, "postgres", "server.log"), c => StartPostgresAsync(engines.Postgres, c), ct);
        if (engines.Mongo.Local && engines.Mongo.Enabled)
        {
            if (FindMongod() is { } mongod)
                await StartSupervisedAsync(EngineKind.Mongo, Path.Combine(EnginesDir, "mongo", "server.log"), c => StartMongoAsync(mongod, engines.Mongo, c), ct);
            else logger.MongoNotInstalled();
        }
        if (AnyTls) _supervisors.Add(Task.Run(() => RenewCertificatesDailyAsync(_stopping.Token), CancellationToken.None));
    }

    private async Task RenewCertificatesDailyAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromDays(1), ct);
                try
                {
                    await RenewCertificatesAsync(ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.JobPassFailed(e, "TLS certificate renewal"); // tried again the next day, 29 days before it expires
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async Task StopAsync()
    {
        await StopSupervisingAsync(); // first, so that the exits below are not taken for crashes
        foreach (var p in Enumerable.Reverse(_running)) await p.StopAsync(TimeSpan.FromSeconds(30));
        _running.Clear();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StartMariaDbAsync(EngineServerOptions o, CancellationToken ct)
    {
        var dir = Path.Combine(EnginesDir, "mariadb");
        var data = Path.Combine(dir, "data");
        var run = Path.Combine(dir, "run");
        Directory.CreateDirectory(run);
        var socket = Path.Combine(run, "mysqld.sock");
        await WaitForPreviousInstanceAsync(Path.Combine(run, "mysqld.pid"), "MariaDB", ct);
        var fresh = !Directory.Exists(Path.Combine(data, "mysql"));
        if (fresh)
        {
            var sw = Stopwatch.StartNew();
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true); // a half-finished install
            await RunToEndAsync("mariadb-install-db", ["--no-defaults", $"--datadir={data}", "--user=root",
                "--auth-root-authentication-method=normal", "--skip-test-db"], Path.Combine(dir, "install.log"), ct);
            logger.MariaDbInitialised(data, sw.ElapsedMilliseconds);
        }
        string[] args =
        [
            "mariadbd", "--no-defaults", $"--datadir={data}", $"--socket={socket}", $"--port={o.Port}",
            "--bind-address=127.0.0.1", "--user=root", $"--pid-file={Path.Combine(run, "mysqld.pid")}",
            $"--log-error={Path.Combine(dir, "error.log")}", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=8M", "--max-connections=1000", "--innodb-stats-on-metadata=OFF",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            // Temporary tables: InnoDB only (an Aria or MEMORY one would sit in files or memory nothing bounds), and the
            // shared temporary tablespace capped, so tenants together cannot fill the disk with them.
            "--enforce-storage-engine=InnoDB", $"--innodb-temp-data-file-path=ibtmp1:12M:autoextend:max:{engines.LocalMariaDbTemporarySpaceMb}M",
            .. o.EffectiveRequireTls ? MariaDbTlsArguments() : [],
            .. engines.LocalDurable ? Array.Empty<string>() : ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--sync-frm=0"],
        ];
        _running.Add(SupervisedProcess.Start("mariadbd", "TERM", Path.Combine(dir, "server.log"), args));
        await WaitUntilAsync("MariaDB", () => TryMariaDbSocket(socket), ct);
        await SecureMariaDbRootAsync(socket, o, ct);
        logger.MariaDbListening(o.Port);
    }

    /// <summary>A fresh MariaDB has <c>root@localhost</c> with an empty password. Give it the generated one and remove
    /// the remaining default accounts, so nothing on this machine can log in without a password. Idempotent.</summary>
    private static async Task SecureMariaDbRootAsync(string socket, EngineServerOptions o, CancellationToken ct)
    {
        MySqlConnection c;
        try
        {
            c = OpenMariaDbSocket(socket, o.AdminPassword, TimeSpan.FromSeconds(5));
        }
        catch (MySqlException e) when (e.ErrorCode == MySqlErrorCode.AccessDenied)
        {
            c = OpenMariaDbSocket(socket, "", TimeSpan.FromSeconds(5));
            await MariaDbAdapter.ExecAsync(c, $"ALTER USER 'root'@'localhost' IDENTIFIED BY PASSWORD {TenantNames.Literal(MariaDbAdapter.NativePasswordHash(o.AdminPassword!))}", ct);
        }
        await using (c)
        {
            var others = await MariaDbAdapter.QueryAsync(c, "SELECT User, Host FROM mysql.user " +
                "WHERE NOT (User = 'root' AND Host = 'localhost') AND User NOT LIKE 'du%' AND User <> 'mariadb.sys'", ct);
            foreach (var row in others)
                await MariaDbAdapter.ExecAsync(c, $"DROP USER IF EXISTS '{row[0]!.Replace("'", "''", StringComparison.Ordinal)}'@'{row[1]!.Replace("'", "''", StringComparison.Ordinal)}'", ct);
        }
    }

    private static bool TryMariaDbSocket(string socket)
    {
        try
        {
            using var c = OpenMariaDbSocket(socket, "x-probe", TimeSpan.FromSeconds(1));
            return true;
        }
        catch (MySqlException e)
        {
            return e.ErrorCode == MySqlErrorCode.AccessDenied; // the server answered, so it is up
        }
    }

    /// <summary>root over the server's Unix socket, where root@localhost lives; no pool (start-up work only).</summary>
    private static MySqlConnection OpenMariaDbSocket(string socket, string? password, TimeSpan timeout)
    {
        var c = new MySqlConnection(MariaDbAdapter.ConnectionStringFor(
            new EngineServerOptions { Host = socket, ConnectTimeout = timeout }, "root", password, database: null, pooling: false));
        try
        {
            c.Open();
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    private async Task StartPostgresAsync(EngineServerOptions o, CancellationToken ct)
    {
        var bin = FindPostgresBin();
        var dir = Path.Combine(EnginesDir, "postgres");
        var data = Path.Combine(dir, "data");
        var run = Path.Combine(dir, "run");
        Directory.CreateDirectory(run);
        await WaitForPreviousInstanceAsync(Path.Combine(data, "postmaster.pid"), "PostgreSQL", ct);
        await WaitForOldPostgresMemoryAsync(data, ct);
        // PostgreSQL refuses to run as root: its folders belong to the postgres user and it runs as that user.
        await LetPostgresReachAsync(dir, ct);
        await RunToEndAsync("chown", ["postgres:postgres", dir, run], null, ct);
        if (!File.Exists(Path.Combine(data, "PG_VERSION")))
        {
            var sw = Stopwatch.StartNew();
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
            var pwfile = Path.Combine(dir, "initdb-pw");
            await File.WriteAllTextAsync(pwfile, o.AdminPassword + "\n", ct);
            await RunToEndAsync("chown", ["postgres:postgres", pwfile], null, ct);
            File.SetUnixFileMode(pwfile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            try
            {
                await RunToEndAsync("setpriv", [.. AsPostgres, Path.Combine(bin, "initdb"), "-D", data, "-U", o.AdminUser ?? "postgres",
                    $"--pwfile={pwfile}", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"], Path.Combine(dir, "initdb.log"), ct);
            }
            finally
            {
                File.Delete(pwfile);
            }
            logger.PostgresInitialised(data, sw.ElapsedMilliseconds);
        }
        await WritePostgresHbaAsync(o, Path.Combine(data, "pg_hba.conf"), ct);
        if (o.EffectiveRequireTls) await CopyPostgresCertificateAsync(run, ct);
        string[] args =
        [
            "setpriv", .. AsPostgres, Path.Combine(bin, "postgres"), "-D", data, "-p", o.Port.ToString(), "-k", run,
            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=500", "-c", "password_encryption=scram-sha-256",
            .. o.EffectiveRequireTls
                ? ["-c", "ssl=on", "-c", $"ssl_cert_file={Path.Combine(run, "server.pem")}", "-c", $"ssl_key_file={Path.Combine(run, "server.key")}"]
                : Array.Empty<string>(),
            .. engines.LocalDurable ? Array.Empty<string>() : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        ];
        // SIGINT is PostgreSQL's "fast" shutdown: it ends sessions instead of waiting for clients to leave.
        _running.Add(SupervisedProcess.Start("postgres", "INT", Path.Combine(dir, "server.log"), args));
        await WaitUntilAsync("PostgreSQL", () => TryPostgres(o), ct);
        logger.PostgresListening(o.Port);
    }

    /// <summary>The whole pg_hba.conf (<see cref="PgHbaFile.LocalFile"/>), HepDb's allowlist block carried over from the
    /// file as it was. Written before every start, so a changed TLS setting or administrator applies.</summary>
    private static async Task WritePostgresHbaAsync(EngineServerOptions o, string path, CancellationToken ct)
    {
        var block = File.Exists(path) ? PgHbaFile.BlockOf(await File.ReadAllTextAsync(path, ct)) : [];
        await File.WriteAllTextAsync(path, PgHbaFile.LocalFile(o.AdminUser ?? "postgres", o.EffectiveRequireTls, block), ct);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await RunToEndAsync("chown", ["postgres:postgres", path], null, ct);
    }

    /// <summary>PostgreSQL reads its key as the postgres user and wants it private to that user: a copy in its own folder.</summary>
    private async Task CopyPostgresCertificateAsync(string run, CancellationToken ct)
    {
        var tls = LocalCertificates.Files(EnginesDir);
        foreach (var (from, name) in new[] { (tls.ServerCertificate, "server.pem"), (tls.ServerKey, "server.key") })
        {
            var to = Path.Combine(run, name);
            File.Copy(from, to, overwrite: true);
            File.SetUnixFileMode(to, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await RunToEndAsync("chown", ["postgres:postgres", to], null, ct);
        }
    }

    private string[] MariaDbTlsArguments()
    {
        var tls = LocalCertificates.Files(EnginesDir);
        return [$"--ssl-ca={tls.CaCertificate}", $"--ssl-cert={tls.ServerCertificate}", $"--ssl-key={tls.ServerKey}"];
    }

    /// <summary>Renews the local servers' certificate when it is due (see <see cref="LocalCertificates"/>) and has the
    /// running servers load it: MariaDB <c>FLUSH SSL</c>, PostgreSQL a configuration reload. Run daily while HepDb runs.</summary>
    public async Task RenewCertificatesAsync(CancellationToken ct)
    {
        if (!AnyTls || !LocalCertificates.Ensure(EnginesDir, TlsNames(), DateTimeOffset.UtcNow)) return;
        if (engines.MariaDb.Local && engines.MariaDb.EffectiveRequireTls)
        {
            await using var c = OpenMariaDbSocket(Path.Combine(EnginesDir, "mariadb", "run", "mysqld.sock"), engines.MariaDb.AdminPassword, TimeSpan.FromSeconds(5));
            await MariaDbAdapter.ExecAsync(c, "FLUSH SSL", ct);
        }
        if (engines.Postgres.Local && engines.Postgres.EffectiveRequireTls)
        {
            await CopyPostgresCertificateAsync(Path.Combine(EnginesDir, "postgres", "run"), ct);
            await using var conn = new NpgsqlConnection(PostgresAdminConnectionString(engines.Postgres, timeoutSeconds: 5));
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand("SELECT pg_reload_conf()", conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        var renewed = LocalCertificates.Files(EnginesDir).ServerCertificate;
        logger.EngineCertificateRenewed(renewed);
    }

    /// <summary>The postgres user must be able to pass through every folder above its own, and a data folder under
    /// <c>/root</c> (mode 0700) is out of its reach. Each such folder gets one ACL entry, search (<c>x</c>) for the
    /// postgres user only: it may pass through by exact path but not list or read anything there.</summary>
    private async Task LetPostgresReachAsync(string dir, CancellationToken ct)
    {
        if (await SucceedsAsync("setpriv", [.. AsPostgres, "test", "-x", dir], ct)) return;
        for (var parent = Path.GetDirectoryName(Path.GetFullPath(dir)); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            if (File.GetUnixFileMode(parent).HasFlag(UnixFileMode.OtherExecute)) continue;
            await RunToEndAsync("setfacl", ["-m", "u:postgres:x", parent], null, ct);
            logger.PostgresFolderOpened(parent);
        }
    }

    /// <summary>The local server's administrator over loopback, unpooled (start-up and maintenance work only).</summary>
    private static string PostgresAdminConnectionString(EngineServerOptions o, int timeoutSeconds) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = o.Port, Username = o.AdminUser ?? "postgres", Password = o.AdminPassword,
        Database = "postgres", Pooling = false, Timeout = timeoutSeconds,
    }.ConnectionString;

    private static bool TryPostgres(EngineServerOptions o)
    {
        try
        {
            using var conn = new NpgsqlConnection(PostgresAdminConnectionString(o, timeoutSeconds: 2));
            conn.Open();
            return true;
        }
        catch (PostgresException e) when (e.SqlState == "57P03") // the database system is starting up
        {
            return false;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    private async Task StartMongoAsync(string mongod, EngineServerOptions o, CancellationToken ct)
    {
        var dir = Path.Combine(EnginesDir, "mongo");
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        string[] tls = [];
        if (o.EffectiveRequireTls)
        {
            // mongod takes the certificate and its key in one file.
            var files = LocalCertificates.Files(EnginesDir);
            var combined = Path.Combine(dir, "server-with-key.pem");
            await File.WriteAllTextAsync(combined, await File.ReadAllTextAsync(files.ServerCertificate, ct) + await File.ReadAllTextAsync(files.ServerKey, ct), ct);
            File.SetUnixFileMode(combined, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            tls = ["--tlsMode", "requireTLS", "--tlsCertificateKeyFile", combined, "--tlsAllowConnectionsWithoutCertificates"];
        }
        _running.Add(SupervisedProcess.Start("mongod", "TERM", Path.Combine(dir, "server.log"),
            [mongod, "--auth", "--bind_ip", "127.0.0.1", "--port", o.Port.ToString(), "--dbpath", data, .. tls]));
        await WaitUntilAsync("MongoDB", () => TryTcp(o.Port), ct);
        await HepDb.Engines.Mongo.MongoAdapter.EnsureLocalAdminAsync(o, ct); // through the localhost exception, first start only
        logger.MongoListening(o.Port);
    }

    private static string[] AsPostgres => ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"];

    private static string FindPostgresBin()
    {
        var root = "/usr/lib/postgresql";
        var versions = Directory.Exists(root)
            ? Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, "bin", "postgres"))).OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).ToList()
            : [];
        if (versions.Count > 0) return Path.Combine(versions[0], "bin");
        return Path.GetDirectoryName(FindOnPath("postgres") ?? throw new InvalidOperationException(
            "PostgreSQL server binaries not found (install the 'postgresql' package).")) !;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static bool TryTcp(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>If a previous HepDb was killed, its watchdog is still shutting the engine down; wait for that rather than
    /// start a second server on the same data.</summary>
    private static async Task WaitForPreviousInstanceAsync(string pidFile, string engine, CancellationToken ct)
    {
        for (var i = 0; i < 600 && File.Exists(pidFile); i++)
        {
            var text = (await File.ReadAllTextAsync(pidFile, ct)).Split('\n')[0].Trim();
            if (!int.TryParse(text, out var pid) || !Directory.Exists($"/proc/{pid}")) return;
            if (i == 0 && !IsEngineProcess(pid)) return;
            await Task.Delay(100, ct);
        }
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile, ct)).Split('\n')[0].Trim(), out var still) && Directory.Exists($"/proc/{still}"))
            throw new InvalidOperationException($"{engine} is already running on this data folder (pid {still}). Is another HepDb using it?");
    }

    private static bool IsEngineProcess(int pid)
    {
        try
        {
            var comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
            return comm is "mariadbd" or "mysqld" or "postgres" or "mongod";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private async Task WaitUntilAsync(string engine, Func<bool> ready, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (!ready())
        {
            if (_running.Count > 0 && _running[^1].HasExited)
                throw new InvalidOperationException($"{engine} exited during start; see its log under {EnginesDir}.");
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"{engine} did not answer within 60 s; see its log under {EnginesDir}.");
            await Task.Delay(50, ct);
        }
    }

    private static async Task<bool> SucceedsAsync(string file, IEnumerable<string> args, CancellationToken ct) =>
        (await RunAsync(file, args, ct)).ExitCode == 0;

    private static async Task RunToEndAsync(string file, IEnumerable<string> args, string? logFile, CancellationToken ct)
    {
        var (exitCode, output) = await RunAsync(file, args, ct);
        if (logFile is not null) await File.WriteAllTextAsync(logFile, output, ct);
        if (exitCode != 0)
            // The last lines say why (the log may be gone with its folder by the time someone reads the message).
            throw new InvalidOperationException($"{file} failed with exit code {exitCode}" + (logFile is null ? "" : $" (log: {logFile})") + ": " +
                string.Join('\n', output.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(15)));
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await stdout + await stderr);
    }

    private static string ReadOrCreateSecret(string path)
    {
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var secret = Secrets.Generate(32);
        File.WriteAllText(path, secret);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return secret;
    }

    private static IEnumerable<(EngineKind, EngineServerOptions)> Servers(EnginesOptions e) =>
        [(EngineKind.MariaDb, e.MariaDb), (EngineKind.Postgres, e.Postgres), (EngineKind.Mongo, e.Mongo)];
}
