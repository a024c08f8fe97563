using HepDb.Web.Admin;

namespace HepDb.Web.Pages.Admin;

public sealed class IndexModel(AdminService admin) : OperatorPage
{
    [BindProperty(SupportsGet = true)] public string? Q { get; set; }
    public List<AccountRow> Rows { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) => Rows = await admin.SearchAsync(Q, ct);
}
