using HepDb.Data;
using HepDb.Hosting.LocalEngines;
using Microsoft.Extensions.Options;

namespace HepDb.Hosting;

/// <summary>Before anything else starts: bring up the local engine servers and migrate the metadata store.
/// After everything has stopped: stop the local engine servers.</summary>
public sealed class StartupWork(
    IServiceProvider services, IOptions<HepDbOptions> hepdb, IOptions<EnginesOptions> engines, LocalEngineStatus status, ILogger<StartupWork> logger)
    : IHostedLifecycleService
{
    private LocalEngineServers? _local;

    public async Task StartingAsync(CancellationToken ct)
    {
        var e = engines.Value;
        if (e.MariaDb.Local || e.Postgres.Local || e.Mongo.Local)
        {
            _local = new LocalEngineServers(hepdb.Value.ResolveDataDir(), e, logger, status);
            await _local.StartAsync(ct);
        }
        await MetadataStore.MigrateAsync(services, ct);
        await Fleet.FleetSync.RegisterConfiguredAsync(services, ct);
    }

    public async Task StoppedAsync(CancellationToken ct)
    {
        if (_local is not null) await _local.StopAsync();
    }

    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken ct) => Task.CompletedTask;
}
