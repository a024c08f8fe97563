using HepDb.Accounts;
using HepDb.ApiKeys;

namespace HepDb.Web.Pages.Dashboard.Database;

public sealed class ApiKeysModel(ApiKeyService keys, AccountService accounts, TimeProvider time) : DashboardPage
{
    public List<ApiKey> Keys { get; private set; } = [];
    public int ActiveLimit { get; private set; }

    /// <summary>A key value minted or rotated in this response: shown once, never again.</summary>
    public MintedKey? Fresh { get; private set; }
    public DateTime Now => time.GetUtcNow().UtcDateTime;

    [BindProperty] public string? Label { get; set; }

    public Task OnGetAsync(CancellationToken ct) => LoadAsync(ct);

    public async Task<IActionResult> OnPostCreateAsync(CancellationToken ct)
    {
        var minted = await keys.MintAsync(Account.Id, Label, Actor, ct);
        if (!minted.Ok) return Refused(minted.Problem!);
        return await ShowOnceAsync(minted.Value!, "Key created. Copy it now: it is shown only once.", ct);
    }

    public async Task<IActionResult> OnPostRotateAsync(string id, CancellationToken ct)
    {
        var rotated = await keys.RotateAsync(Account.Id, id, Actor, ct);
        if (!rotated.Ok) return Refused(rotated.Problem!);
        return await ShowOnceAsync(rotated.Value!, "Key rotated: the old value no longer works. Copy the new one now: it is shown only once.", ct);
    }

    public async Task<IActionResult> OnPostDisableAsync(string id, CancellationToken ct)
    {
        var r = await keys.DisableAsync(Account.Id, id, Actor, ct);
        return r.Ok ? Done($"Disabled {Describe(r.Value!)}. Requests with it now get 401 KEY_DISABLED.") : Refused(r.Problem!);
    }

    public async Task<IActionResult> OnPostEnableAsync(string id, CancellationToken ct)
    {
        var r = await keys.EnableAsync(Account.Id, id, Actor, ct);
        return r.Ok ? Done($"Enabled {Describe(r.Value!)}.") : Refused(r.Problem!);
    }

    public async Task<IActionResult> OnPostDeleteAsync(string id, CancellationToken ct)
    {
        var r = await keys.DeleteAsync(Account.Id, id, Actor, ct);
        return r.Ok ? Done($"Deleted {Describe(r.Value!)}.") : Refused(r.Problem!);
    }

    private static string Describe(ApiKey k) => k.Label is { Length: > 0 } l ? $"key \"{l}\"" : $"key {k.Prefix}…";

    private async Task<IActionResult> ShowOnceAsync(MintedKey minted, string notice, CancellationToken ct)
    {
        Fresh = minted;
        Say(notice);
        Label = null;
        await LoadAsync(ct);
        return Page();
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        Keys = await keys.ListAsync(Account.Id, ct);
        ActiveLimit = (await accounts.LimitsAsync(Account, ct)).ActiveKeys;
    }
}
