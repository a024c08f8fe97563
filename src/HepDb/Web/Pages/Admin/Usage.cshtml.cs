using HepDb.Usage;
using HepDb.Web.Display;

namespace HepDb.Web.Pages.Admin;

/// <summary>The fleet's history: bytes and ready databases per engine server over the last 30 days, from the quota
/// watcher's samples.</summary>
public sealed class UsageModel(UsageHistory history, TimeProvider time) : OperatorPage
{
    public IReadOnlyDictionary<string, IReadOnlyList<FleetPoint>> Fleet { get; private set; } = new Dictionary<string, IReadOnlyList<FleetPoint>>();
    public DateTime Now { get; } = time.GetUtcNow().UtcDateTime;
    public GraphSpec Bytes => UsageGraphs.FleetBytes(Fleet, Now);
    public GraphSpec Databases => UsageGraphs.FleetDatabases(Fleet, Now);

    public async Task OnGetAsync(CancellationToken ct) => Fleet = await history.FleetSinceAsync(Now - UsageGraphs.FleetWindow, ct);
}
