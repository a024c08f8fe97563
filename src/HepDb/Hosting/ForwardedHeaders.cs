using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using IPNetwork = System.Net.IPNetwork;
using Microsoft.Extensions.Options;

namespace HepDb.Hosting;

/// <summary>
/// Which peers may tell HepDb who the client is. Behind a reverse proxy every request comes from the proxy, so rate
/// limits, audit entries and keys' last-use IP would all see the proxy's address; a proxy listed here may name the real
/// client in <c>X-Forwarded-For</c> (and the scheme in <c>X-Forwarded-Proto</c>). By default nothing is trusted, not even
/// loopback: a header from a peer not listed is ignored, so a client cannot forge its way out of its rate-limit bucket.
/// </summary>
public sealed class NetworkOptions
{
    public const string Section = "Network";

    /// <summary>Addresses of the reverse proxies in front of HepDb, e.g. <c>127.0.0.1</c>, <c>10.0.0.5</c>, <c>::1</c>.</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Networks the reverse proxies live in, in CIDR notation, e.g. <c>10.0.0.0/8</c>, <c>fd00::/8</c>.</summary>
    public List<string> KnownNetworks { get; set; } = [];

    /// <summary>How many <c>X-Forwarded-For</c> entries are taken, from the right. Default 1: one proxy in front.</summary>
    public int ForwardLimit { get; set; } = 1;

    public bool TrustsAnyone => KnownProxies.Count > 0 || KnownNetworks.Count > 0;
}

/// <summary>Refuses to start with an entry that is not an IP address (KnownProxies) or a CIDR network (KnownNetworks),
/// naming it, rather than silently trusting less (or more) than the operator meant.</summary>
internal sealed class NetworkOptionsValidation : IValidateOptions<NetworkOptions>
{
    public ValidateOptionsResult Validate(string? name, NetworkOptions options)
    {
        var errors = new List<string>();
        foreach (var proxy in options.KnownProxies)
            if (!IPAddress.TryParse(proxy?.Trim(), out _))
                errors.Add($"Network:KnownProxies: '{proxy}' is not an IP address (write e.g. 127.0.0.1 or 10.0.0.5; networks go in Network:KnownNetworks).");
        foreach (var network in options.KnownNetworks)
            if (!IsCidr(network))
                errors.Add($"Network:KnownNetworks: '{network}' is not a network in CIDR notation (write e.g. 10.0.0.0/8 or fd00::/8, with no bits set after the prefix).");
        if (options.ForwardLimit < 1) errors.Add("Network:ForwardLimit must be at least 1.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>An address, a slash and a prefix length, with no bits set after the prefix (10.0.0.1/8 is refused
    /// rather than read as 10.0.0.0/8: the operator may have meant a single host).</summary>
    private static bool IsCidr(string? text)
    {
        var parts = text?.Trim().Split('/');
        return parts is [var address, _] && IPNetwork.TryParse(text!.Trim(), out var network)
            && IPAddress.TryParse(address, out var given) && network.BaseAddress.Equals(given);
    }
}

public static class ForwardedHeadersSetup
{
    public static IServiceCollection AddHepDbForwardedHeaders(this IServiceCollection services)
    {
        services.AddOptions<NetworkOptions>().BindConfiguration(NetworkOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<NetworkOptions>, NetworkOptionsValidation>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<NetworkOptions>>((o, configured) =>
        {
            var n = configured.Value;
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            o.ForwardLimit = n.ForwardLimit;
            // ASP.NET Core trusts loopback by default; HepDb trusts only what the operator lists.
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            foreach (var proxy in n.KnownProxies) o.KnownProxies.Add(IPAddress.Parse(proxy.Trim()));
            foreach (var network in n.KnownNetworks) o.KnownIPNetworks.Add(IPNetwork.Parse(network.Trim()));
        });
        return services;
    }

    /// <summary>First in the pipeline, so everything after it (rate limits, authentication, audit, key usage) sees the
    /// forwarded client address. With nothing configured it is not added at all: no header is read.</summary>
    public static WebApplication UseHepDbForwardedHeaders(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<NetworkOptions>>().Value.TrustsAnyone) app.UseForwardedHeaders();
        return app;
    }
}
