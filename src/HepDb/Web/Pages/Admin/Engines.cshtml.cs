using HepDb.Data;
using HepDb.Engines;
using HepDb.Web.Admin;

namespace HepDb.Web.Pages.Admin;

public sealed class EnginesModel(AdminService admin) : OperatorPage
{
    public List<EngineRow> Rows { get; private set; } = [];
    public List<JobRun> Runs { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        Rows = await admin.EnginesAsync(ct);
        Runs = await admin.RecentRunsAsync("quota-watcher", 10, ct);
    }

    public Task<IActionResult> OnPostEnableAsync(string engine, CancellationToken ct) => SwitchAsync(engine, true, ct);
    public Task<IActionResult> OnPostDisableAsync(string engine, CancellationToken ct) => SwitchAsync(engine, false, ct);

    private async Task<IActionResult> SwitchAsync(string engine, bool enabled, CancellationToken ct)
    {
        if (!EngineKinds.TryParse(engine, out var kind)) return Refused(Api.ApiErrors.InvalidEngine());
        var problem = await admin.SetEngineEnabledAsync(kind, enabled, OperatorActor, ct);
        return problem is null
            ? Done(enabled ? $"{kind.DisplayName()}: new databases allowed." : $"{kind.DisplayName()}: new databases refused with ENGINE_DISABLED; existing ones keep working.")
            : Refused(problem);
    }
}
