using HepDb.Fleet;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using Microsoft.Extensions.Logging.Abstractions;

[assembly: AssemblyFixture(typeof(HepDb.Tests.Infrastructure.SecondServers))]

namespace HepDb.Tests.Infrastructure;

/// <summary>
/// A second real MariaDB server and a second real PostgreSQL server for the whole test run, beside
/// <see cref="EngineServers"/>: the fleet tests add them to a HepDb as servers of their own (the test suite runs two of
/// each). Started by the same component as the first, in their own folder on free ports, with their own TLS CA.
/// </summary>
public sealed class SecondServers : IAsyncLifetime
{
    private LocalEngineServers? _servers;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"hepdb-tests-second-{Guid.NewGuid():N}");
    public EnginesOptions Engines { get; } = new() { LocalDurable = false };

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        Engines.MariaDb.Port = EngineServers.FreePort();
        Engines.Postgres.Port = EngineServers.FreePort();
        Engines.Mongo.Local = false;
        Engines.Mongo.Enabled = false;
        _servers = new LocalEngineServers(Root, Engines, NullLogger.Instance);
        await _servers.StartAsync(CancellationToken.None);
    }

    /// <summary>What <c>hepdb-admin server add</c> (or <see cref="FleetService.AddAsync"/>) needs to add the second
    /// server of <paramref name="engine"/> (<c>mariadb</c> or <c>postgres</c>), capacity aside.</summary>
    public ServerSettings Settings(string engine, int maxDatabases, long? maxBytes = null)
    {
        var o = engine == "mariadb" ? Engines.MariaDb : Engines.Postgres;
        return new ServerSettings(Host: "127.0.0.1", Port: o.Port, AdminUser: o.AdminUser, AdminPassword: o.AdminPassword,
            MaxDatabases: maxDatabases, MaxBytes: maxBytes, RequireTls: true, CaCertificateFile: o.CaCertificateFile, HbaFile: o.HbaFile);
    }

    /// <summary>The same as <see cref="Settings"/>, as <c>hepdb-admin server add</c> arguments (the admin password goes
    /// on stdin: <see cref="AdminPassword"/>).</summary>
    public string[] AddArguments(string engine, string name, int maxDatabases)
    {
        var o = engine == "mariadb" ? Engines.MariaDb : Engines.Postgres;
        var args = new List<string> { "server", "add", "--engine", engine, "--name", name, "--host", "127.0.0.1", "--port", o.Port.ToString(),
            "--admin-user", o.AdminUser!, "--max-databases", maxDatabases.ToString(), "--require-tls", "--ca-file", o.CaCertificateFile! };
        if (o.HbaFile is not null) args.AddRange(["--hba-file", o.HbaFile]);
        return args.ToArray();
    }

    public string AdminPassword(string engine) => (engine == "mariadb" ? Engines.MariaDb : Engines.Postgres).AdminPassword!;

    public async ValueTask DisposeAsync()
    {
        if (_servers is not null) await _servers.StopAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
