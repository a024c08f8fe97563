using HepDb.Backups;

namespace HepDb.Web.Pages.Admin;

/// <summary>Backup health: per database its last successful backup and a newer failure, the failures of the last
/// days, and what the store holds.</summary>
public sealed class BackupsModel(BackupHealth health) : OperatorPage
{
    public BackupHealthReport Report { get; private set; } = null!;

    public async Task OnGetAsync(CancellationToken ct) => Report = await health.ReportAsync(ct);
}
