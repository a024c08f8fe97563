using HepDb.Data;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Fleet;

/// <summary>Keeps <see cref="EngineRegistry"/> in step with the metadata store: the fleet's servers (added, changed,
/// drained, removed) and the operators' engine switches, read at start and every <see cref="Refresh"/>, so a change
/// made on one replica or with the operator tool reaches the others within that time.</summary>
public sealed class FleetSync(IServiceScopeFactory scopes, EngineRegistry registry, TimeProvider time, ILogger<FleetSync> logger)
    : Hosting.PeriodicJob(time, logger)
{
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(5);

    protected override TimeSpan Interval => Refresh;

    protected override async Task RunPassAsync(bool atStart, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        await LoadAsync(scope.ServiceProvider.GetRequiredService<HepDbContext>(), registry, ct);
    }

    /// <summary>Reads the servers and the switches and applies them to <paramref name="registry"/> (also used by the
    /// operator tool and the admin area right after a change).</summary>
    public static async Task LoadAsync(HepDbContext db, EngineRegistry registry, CancellationToken ct)
    {
        registry.Apply(await db.EngineServers.AsNoTracking().ToListAsync(ct));
        var off = await db.EngineSwitches.AsNoTracking().Where(s => !s.Enabled).Select(s => s.Engine).ToListAsync(ct);
        registry.SetSwitchedOff(off);
    }

    /// <summary>At start, after the migrations: each configured server becomes (or updates) its engine's server named
    /// <c>default</c> (connection settings from configuration; state and capacity stay as operators set them, and a new
    /// row takes its capacity from configuration), databases stored before servers existed are given their engine's
    /// configured server, and the fleet is loaded.</summary>
    public static async Task RegisterConfiguredAsync(IServiceProvider services, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        var registry = services.GetRequiredService<EngineRegistry>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;
        foreach (var server in registry.ConfiguredServers)
        {
            var configured = EngineRegistry.ConfiguredRow(server.Kind, server.Adapter.Server, now);
            var row = await db.EngineServers.FirstOrDefaultAsync(s => s.Id == configured.Id, ct);
            if (row is null)
            {
                db.EngineServers.Add(configured);
            }
            else if (row.ConnectionFingerprint() != configured.ConnectionFingerprint() || !row.Configured)
            {
                (row.Host, row.Port, row.PublicHost, row.PublicPort, row.AdminUser) = (configured.Host, configured.Port, configured.PublicHost, configured.PublicPort, configured.AdminUser);
                (row.AdminPasswordSealed, row.RequireTls, row.CaCertificateFile, row.HbaFile) = (null, configured.RequireTls, configured.CaCertificateFile, configured.HbaFile);
                row.Configured = true;
                row.ChangedAt = now;
            }
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException)
            {
                db.ChangeTracker.Clear(); // another replica registered it at the same moment
            }
            await db.Databases.Where(d => d.ServerId == "" && d.Engine == configured.Engine)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.ServerId, configured.Id), ct);
        }
        await LoadAsync(db, registry, ct);
    }
}
