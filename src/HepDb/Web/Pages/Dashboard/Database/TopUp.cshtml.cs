using HepDb.Accounts;
using HepDb.Quotas;
using Microsoft.Extensions.Options;

namespace HepDb.Web.Pages.Dashboard.Database;

public sealed class TopUpModel(AccountService accounts, IOptions<PacksOptions> packs, IOptions<TiersOptions> tiers, TimeProvider time) : DashboardPage
{
    public EffectiveLimits Limits { get; private set; } = null!;
    public TierLimits Tier { get; private set; } = null!;
    public List<PackGrant> ActivePacks { get; private set; } = [];
    public IReadOnlyList<PackOffer> Catalogue => packs.Value.EffectiveCatalogue;
    public long UsedBytes { get; private set; }
    public int DatabaseCount { get; private set; }
    public DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>The configured checkout address for a pack, or null when buying is not set up.</summary>
    public string? CheckoutUrl(PackOffer offer) => string.IsNullOrWhiteSpace(packs.Value.CheckoutUrl) ? null
        : packs.Value.CheckoutUrl.Replace("{pack}", Uri.EscapeDataString(offer.Id)).Replace("{account}", Uri.EscapeDataString(Account.Id));

    public async Task OnGetAsync(CancellationToken ct)
    {
        Tier = tiers.Value.For(Account.Tier);
        Limits = await accounts.LimitsAsync(Account, ct);
        ActivePacks = await accounts.ActivePacksAsync(Account.Id, ct);
        UsedBytes = await accounts.UsedBytesAsync(Account.Id, ct);
        DatabaseCount = await accounts.SlotsUsedAsync(Account.Id, ct);
    }
}
