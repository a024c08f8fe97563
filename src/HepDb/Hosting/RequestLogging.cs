namespace HepDb.Hosting;

/// <summary>Structured logs and request ids. Every response carries <c>X-Request-Id</c>, the request's
/// <see cref="HttpContext.TraceIdentifier"/>; ASP.NET Core puts the same id in the log scope of everything logged while
/// the request runs, which JSON log lines (<see cref="HepDbOptions.LogFormat"/> <c>json</c>) include.</summary>
public static class RequestLogging
{
    public const string Header = "X-Request-Id";

    public static WebApplicationBuilder AddHepDbLogging(this WebApplicationBuilder builder)
    {
        if (string.Equals(builder.Configuration[$"{HepDbOptions.Section}:{nameof(HepDbOptions.LogFormat)}"], "json", StringComparison.OrdinalIgnoreCase))
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true; // the request id (and path) of lines logged inside a request
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        return builder;
    }

    /// <summary>Sets the header as the response starts, so error pages (which clear headers) carry it too.</summary>
    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        http.Response.OnStarting(() =>
        {
            http.Response.Headers[Header] = http.TraceIdentifier;
            return Task.CompletedTask;
        });
        return next(http);
    });
}
