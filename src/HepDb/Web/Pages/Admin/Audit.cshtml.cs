using HepDb.Accounts;
using HepDb.Audit;

namespace HepDb.Web.Pages.Admin;

public sealed class AuditModel(AccountService accounts, AuditReader audit) : OperatorPage
{
    [BindProperty(SupportsGet = true, Name = "account")] public string? AccountFilter { get; set; }
    [BindProperty(SupportsGet = true, Name = "action")] public string? ActionFilter { get; set; }
    public AuditView Entries { get; private set; } = new([], new Dictionary<string, string>());
    public string? Message { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        string? accountId = null;
        if (!string.IsNullOrWhiteSpace(AccountFilter))
        {
            accountId = (await accounts.FindAsync(AccountFilter, ct))?.Id;
            if (accountId is null)
            {
                Message = $"No account \"{AccountFilter}\".";
                return;
            }
        }
        Entries = await audit.ViewAsync(accountId, string.IsNullOrWhiteSpace(ActionFilter) ? null : ActionFilter.Trim(), 500, ct);
    }
}
