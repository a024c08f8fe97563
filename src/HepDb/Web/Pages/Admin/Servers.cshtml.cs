using HepDb.Fleet;

namespace HepDb.Web.Pages.Admin;

/// <summary>The fleet of engine servers: each one's health, addresses and load against its capacity, and the switch
/// that drains it (no new databases) or takes it back into placement.</summary>
public sealed class ServersModel(FleetService fleet) : OperatorPage
{
    public IReadOnlyList<ServerView> Servers { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) => Servers = await fleet.ListAsync(probe: true, ct);

    public Task<IActionResult> OnPostDrainAsync(string server, CancellationToken ct) => SetStateAsync(server, ServerState.Draining, ct);
    public Task<IActionResult> OnPostUndrainAsync(string server, CancellationToken ct) => SetStateAsync(server, ServerState.Active, ct);

    private async Task<IActionResult> SetStateAsync(string server, ServerState state, CancellationToken ct)
    {
        var changed = await fleet.SetAsync(server, null, new ServerSettings(State: state), OperatorActor, ct);
        if (!changed.Ok) return Refused(changed.Problem!);
        return Done(state == ServerState.Draining
            ? $"{changed.Value!.Id} is draining: it takes no new databases; its databases keep working until they are moved off."
            : $"{changed.Value!.Id} is active: it takes new databases again.");
    }

    /// <summary>The text equivalent of a capacity bar: "37 of 100 databases (37%)", or "no limit".</summary>
    public static string Capacity(long used, long? max, Func<long, string> say, string? unit = null)
    {
        var suffix = unit is null ? "" : " " + unit;
        // Unlike the bar, the text says how far over its capacity a server is (a capacity lowered below its load).
        return max is { } m and > 0 ? $"{say(used)} of {say(m)}{suffix} ({used * 100 / m}%)" : $"{say(used)}{suffix}, no limit";
    }
}
