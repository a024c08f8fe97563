using HepDb.Accounts;
using HepDb.Api;

namespace HepDb.Tests.Unit;

/// <summary>The one error catalog and the pure checks that produce its dashboard and operator refusals.</summary>
public sealed class ErrorCatalogTests
{
    /// <summary>SPEC §3's table, exactly: code → status.</summary>
    private static readonly Dictionary<string, int> Spec = new()
    {
        ["MISSING_KEY"] = 401, ["BAD_KEY"] = 401, ["KEY_DISABLED"] = 401, ["INVALID_BODY"] = 400, ["INVALID_NAME"] = 400,
        ["INVALID_ENGINE"] = 400, ["ENGINE_DISABLED"] = 400, ["DATABASE_LIMIT_REACHED"] = 403, ["STORAGE_QUOTA_EXCEEDED"] = 403,
        ["NOT_FOUND"] = 404, ["METHOD_NOT_ALLOWED"] = 405, ["BODY_TOO_LARGE"] = 413, ["UNSUPPORTED_MEDIA_TYPE"] = 415,
        ["IDEMPOTENCY_KEY_REUSED"] = 422, ["RATE_LIMITED"] = 429, ["ENGINE_UNAVAILABLE"] = 503, ["INTERNAL_ERROR"] = 500,
    };

    [Fact]
    public void Every_code_has_one_wire_name_and_a_status_and_the_api_codes_are_spec_section_3()
    {
        var all = Enum.GetValues<ErrorCode>().Select(c => (Code: c, Of: ErrorCodes.Of(c))).ToList();
        Assert.Equal(all.Count, all.Select(c => c.Of.Wire).Distinct().Count());
        Assert.All(all, c => Assert.Matches("^[A-Z]+(_[A-Z]+)*$", c.Of.Wire));
        Assert.All(all, c => Assert.InRange(c.Of.Status, 400, 599));
        // The API block (up to INTERNAL_ERROR) is SPEC §3's catalog; what follows never reaches the management API.
        var api = all.TakeWhile(c => c.Code <= ErrorCode.InternalError).ToDictionary(c => c.Of.Wire, c => c.Of.Status);
        Assert.Equal(Spec.OrderBy(p => p.Key), api.OrderBy(p => p.Key));
    }

    [Fact]
    public void A_problem_carries_its_codes_wire_name_and_status()
    {
        Assert.Equal(("REASON_REQUIRED", 400), (ApiErrors.SuspensionNeedsReason.Code, ApiErrors.SuspensionNeedsReason.Status));
        Assert.Equal(("INVALID_TIER", 400), (ApiErrors.InvalidTier("gold").Code, ApiErrors.InvalidTier("gold").Status));
        Assert.Equal(("NOT_FOUND", 404), (ApiErrors.NoAccount("x").Code, ApiErrors.NoAccount("x").Status));
        Assert.Equal(("ENGINE_UNAVAILABLE", 503), (ApiErrors.EngineStepsPending(["a"]).Code, ApiErrors.EngineStepsPending(["a"]).Status));
    }

    [Theory]
    [InlineData("ops@example.com")]
    [InlineData("  Ops@Example.com  ")]
    [InlineData("a@b")]
    public void An_email_with_something_on_both_sides_of_an_at_is_accepted(string email) =>
        Assert.Null(AccountService.ValidateEmail(email));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("no-at-sign")]
    [InlineData("@example.com")]
    [InlineData("ops@")]
    public void A_missing_or_malformed_email_is_refused_with_invalid_email(string? email) =>
        Assert.Equal(ApiErrors.InvalidEmail, AccountService.ValidateEmail(email));

    [Fact]
    public void An_email_longer_than_254_characters_is_refused() =>
        Assert.Equal(ApiErrors.InvalidEmail, AccountService.ValidateEmail(new string('a', 250) + "@b.co"));

    [Fact]
    public void Only_the_three_tiers_are_accepted()
    {
        foreach (var tier in Tiers.All)
        {
            var parsed = AccountService.ValidateTier(tier.WireName());
            Assert.Null(parsed.Problem);
            Assert.Equal(tier, parsed.Value);
        }
        foreach (var tier in new[] { null, "", "gold", "Free", " free" })
        {
            var problem = AccountService.ValidateTier(tier).Problem;
            Assert.Equal(ErrorCode.InvalidTier, problem?.Error);
            Assert.Contains("free, premium or admin", problem!.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_suspension_reason_is_trimmed_and_cut_at_500_characters_and_a_blank_one_is_none()
    {
        Assert.Null(Suspension.Reason(null));
        Assert.Null(Suspension.Reason(" \t\n "));
        Assert.Equal("appeal #7 accepted", Suspension.Reason(" appeal #7 accepted "));
        Assert.Equal(500, Suspension.Reason(new string('x', 600))!.Length);
    }
}
