using System.Security.Cryptography;
using System.Text;
using HepDb.Api;
using HepDb.Data;
using Microsoft.EntityFrameworkCore;

namespace HepDb.ApiKeys;

/// <summary>
/// Turns a presented API key into a verdict: the key record, or MISSING_KEY / BAD_KEY / KEY_DISABLED. Known keys are
/// kept in a <see cref="FreshCache{TValue}"/>: a busy client costs one metadata read per key and half-second instead of
/// one per request. A change to keys committed on this replica (disable, rotate, delete, suspend…) is refused from the
/// next request on (<see cref="CommittedWrites"/>), and one made elsewhere within <see cref="FreshCache{TValue}.Freshness"/>.
/// Unknown keys are not kept (each costs a read; the failed-authentication limit bounds them per address).
/// </summary>
public sealed class ApiKeyAuthenticator
{
    private readonly IDbContextFactory<HepDbContext> _contexts;
    private readonly FreshCache<ApiKey> _known;

    // Per instance: a compiled query belongs to one model, and a process can host servers on both providers (tests).
    private readonly Func<HepDbContext, string, CancellationToken, Task<ApiKey?>> _byHash =
        EF.CompileAsyncQuery((HepDbContext db, string hash, CancellationToken _) => db.ApiKeys.AsNoTracking().FirstOrDefault(k => k.Hash == hash));

    public ApiKeyAuthenticator(IDbContextFactory<HepDbContext> contexts, CommittedWrites writes, TimeProvider time)
    {
        _contexts = contexts;
        _known = new FreshCache<ApiKey>(time);
        writes.Watch("api_keys", _known.Forget);
    }

    private static readonly string[] Schemes = ["Bearer", "Token"];

    /// <summary>The value after an optional <c>Bearer</c> or <c>Token</c> scheme (case-insensitive), or the bare header.</summary>
    public static string? PresentedKey(string? header)
    {
        var value = header?.Trim();
        if (string.IsNullOrEmpty(value)) return null;
        foreach (var scheme in Schemes)
        {
            if (value.Equals(scheme, StringComparison.OrdinalIgnoreCase)) return null; // a scheme with an empty value
            if (value.Length > scheme.Length && value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && char.IsWhiteSpace(value[scheme.Length]))
                return value[(scheme.Length + 1)..].Trim();
        }
        return value;
    }

    /// <summary>
    /// Checks a presented key against its record only: suspension marks the keys themselves, so no account lookup is
    /// needed. The stored hash is compared in constant time after the index lookup.
    /// </summary>
    public async Task<Outcome<ApiKey>> AuthenticateAsync(string? presented, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(presented)) return ApiErrors.MissingKey;
        if (!ApiKeyService.IsWellFormed(presented)) return ApiErrors.BadKey;
        var hash = ApiKeyService.Hash(presented);
        var key = await FindAsync(hash, ct);
        if (key is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(key.Hash), Encoding.ASCII.GetBytes(hash)))
            return ApiErrors.BadKey;
        return key.IsActive ? key : ApiErrors.KeyDisabled;
    }

    private Task<ApiKey?> FindAsync(string hash, CancellationToken ct) => _known.GetAsync(hash, async t =>
    {
        await using var db = await _contexts.CreateDbContextAsync(t);
        return await _byHash(db, hash, t);
    }, ct);
}
