namespace HepDb.Api;

/// <summary>The address a request came from, as the audit log, the rate limits and the sign-in budget see it: the socket's
/// peer, or the client a configured reverse proxy names in X-Forwarded-For (<see cref="Hosting.NetworkOptions"/>).</summary>
public static class ClientAddress
{
    public static string? Of(HttpContext http) => http.Connection.RemoteIpAddress?.ToString();
}
