using HepDb.Audit;

namespace HepDb.Web.Pages.Dashboard.Database;

/// <summary>The account's own audit log: keys, databases, passwords revealed and rotated, suspensions.</summary>
public sealed class ActivityModel(AuditReader audit) : DashboardPage
{
    public AuditView Entries { get; private set; } = null!;

    public async Task OnGetAsync(CancellationToken ct) => Entries = await audit.ViewAsync(Account.Id, null, 200, ct);
}
