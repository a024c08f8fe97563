using System.Net;
using System.Net.Sockets;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

[assembly: AssemblyFixture(typeof(HepDb.Tests.Infrastructure.EngineServers))]

namespace HepDb.Tests.Infrastructure;

/// <summary>
/// One set of real MariaDB and PostgreSQL servers for the whole test run, started by the same component HepDb's run
/// command uses, in a temporary folder on free ports. Tests create uniquely named accounts, so they share the servers
/// without seeing each other's data.
/// </summary>
public sealed class EngineServers : IAsyncLifetime
{
    private LocalEngineServers? _servers;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"hepdb-tests-{Guid.NewGuid():N}");
    public EnginesOptions Engines { get; } = new() { LocalDurable = false };

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        Engines.MariaDb.Port = FreePort();
        Engines.Postgres.Port = FreePort();
        Engines.Mongo.Port = FreePort();
        _servers = new LocalEngineServers(Root, Engines, NullLogger.Instance);
        await _servers.StartAsync(CancellationToken.None);
    }

    /// <summary>Configuration for a HepDb instance that uses these servers as external engine servers.</summary>
    public Dictionary<string, string?> Settings() => new()
    {
        ["Engines:MariaDb:Local"] = "false",
        ["Engines:MariaDb:Port"] = Engines.MariaDb.Port.ToString(),
        ["Engines:MariaDb:AdminPassword"] = Engines.MariaDb.AdminPassword,
        ["Engines:Postgres:Local"] = "false",
        ["Engines:Postgres:Port"] = Engines.Postgres.Port.ToString(),
        ["Engines:Postgres:AdminPassword"] = Engines.Postgres.AdminPassword,
        ["Engines:Mongo:Local"] = "false",
        ["Engines:Mongo:Enabled"] = "false",
    };

    /// <summary>A new, empty database on the shared PostgreSQL server for a HepDb metadata store; returns its connection
    /// string (pooled, as HepDb uses it).</summary>
    public async Task<string> CreateMetadataDatabaseAsync()
    {
        var name = $"hepdb_meta_{Guid.NewGuid():N}"[..30];
        var cs = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = Engines.Postgres.Port, Username = "postgres",
            Password = Engines.Postgres.AdminPassword, Database = "postgres", Pooling = false,
        };
        await using (var conn = new NpgsqlConnection(cs.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        cs.Database = name;
        cs.Pooling = true;
        return cs.ConnectionString;
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_servers is not null) await _servers.StopAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
