using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using Microsoft.Extensions.Logging.Abstractions;

namespace HepDb.Tests.Infrastructure;

/// <summary>A MariaDB server of one test's own, for what the shared servers must not go through (frozen, stopped, or
/// started with other settings), started by the same component as HepDb's own, in a temporary folder on a free port.
/// Disposing stops it and removes its folder.</summary>
public sealed class PrivateMariaDb : IAsyncDisposable
{
    private PrivateMariaDb(string root, EnginesOptions options)
    {
        Root = root;
        Options = options;
        Servers = new LocalEngineServers(root, options, NullLogger.Instance);
    }

    public string Root { get; }
    public EnginesOptions Options { get; }
    public LocalEngineServers Servers { get; }

    /// <summary>Starts it; <paramref name="configure"/> may change its options first (the port is already free).</summary>
    public static async Task<PrivateMariaDb> StartAsync(string purpose, Action<EnginesOptions>? configure = null)
    {
        var options = new EnginesOptions { LocalDurable = false };
        options.MariaDb.Port = EngineServers.FreePort();
        options.Postgres.Local = false;
        options.Mongo.Local = false;
        configure?.Invoke(options);
        var server = new PrivateMariaDb(Path.Combine(Path.GetTempPath(), $"hepdb-{purpose}-{Guid.NewGuid():N}"), options);
        try
        {
            await server.Servers.StartAsync(CancellationToken.None);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    public Task StopAsync() => Servers.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await Servers.StopAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
