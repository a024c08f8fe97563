using System.CommandLine;
using HepDb.Accounts;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// hepdb-admin: the operator's own tool on the host (not an HTTP endpoint). It reads the same configuration as the
// server (appsettings.json in the working directory, then HepDb__* environment variables), applies pending
// migrations, and prints plain values on stdout so scripts can capture them. Exit codes: 0 ok, 1 refused, 2 usage.
var root = new RootCommand("HepDb operator commands");
var configFile = new Option<string?>("--config") { Description = "An extra JSON settings file", Recursive = true };
root.Options.Add(configFile);

var email = new Option<string>("--email") { Description = "The account's email address", Required = true };
var tier = new Option<string>("--tier") { Description = "free | premium | admin", DefaultValueFactory = _ => Tiers.Free };
var accountRef = new Option<string>("--account") { Description = "Account id or email", Required = true };
var label = new Option<string?>("--label") { Description = "A label shown in the dashboard" };

var account = new Command("account", "Accounts");
var accountCreate = new Command("create", "Create an account; prints its id") { email, tier };
accountCreate.SetAction((p, ct) => WithServicesAsync(p, async sp =>
{
    var created = await sp.GetRequiredService<AccountService>().CreateAsync(p.GetValue(email)!, p.GetValue(tier)!, Actor.Operator, ct);
    Console.WriteLine(created.Id);
    return 0;
}));
account.Subcommands.Add(accountCreate);
root.Subcommands.Add(account);

var key = new Command("key", "Management API keys");
var keyMint = new Command("mint", "Mint a key for an account; prints the key alone") { accountRef, label };
keyMint.SetAction((p, ct) => WithServicesAsync(p, async sp =>
{
    var target = await FindAccountAsync(sp, p.GetValue(accountRef)!, ct);
    var minted = await sp.GetRequiredService<ApiKeyService>().MintAsync(target.Id, p.GetValue(label), Actor.Operator, ct);
    if (!minted.Ok) return Refuse(minted.Problem!.Message);
    Console.WriteLine(minted.Value!.Value);
    return 0;
}));
key.Subcommands.Add(keyMint);
root.Subcommands.Add(key);

var quickstart = new Command("quickstart", "Ensure a local admin-tier account and print a fresh key labelled 'quickstart' (rotating the previous one)") { email };
quickstart.SetAction((p, ct) => WithServicesAsync(p, async sp =>
{
    var accounts = sp.GetRequiredService<AccountService>();
    var target = await accounts.FindAsync(p.GetValue(email)!, ct) ?? await accounts.CreateAsync(p.GetValue(email)!, Tiers.Admin, Actor.Operator, ct);
    var keys = sp.GetRequiredService<ApiKeyService>();
    var existing = (await keys.ListAsync(target.Id, ct)).FirstOrDefault(k => k.Label == "quickstart");
    var minted = existing is null
        ? await keys.MintAsync(target.Id, "quickstart", Actor.Operator, ct)
        : await keys.RotateAsync(target.Id, existing.Id, Actor.Operator, ct);
    if (!minted.Ok) return Refuse(minted.Problem!.Message);
    Console.WriteLine(minted.Value!.Value);
    return 0;
}));
root.Subcommands.Add(quickstart);

return await root.Parse(args).InvokeAsync();

async Task<int> WithServicesAsync(ParseResult parse, Func<IServiceProvider, Task<int>> work)
{
    var config = new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
        .AddJsonFile(parse.GetValue(configFile) ?? "/nonexistent/hepdb.json", optional: parse.GetValue(configFile) is null)
        .AddEnvironmentVariables()
        .Build();
    var services = new ServiceCollection()
        .AddSingleton<IConfiguration>(config)
        .AddLogging(l => l.AddConfiguration(config.GetSection("Logging")).SetMinimumLevel(LogLevel.Warning))
        .AddHepDbServices()
        .BuildServiceProvider();
    await using (services)
    {
        try
        {
            await MetadataStore.MigrateAsync(services);
            await using var scope = services.CreateAsyncScope();
            return await work(scope.ServiceProvider);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return Refuse(e.Message);
        }
    }
}

static async Task<Account> FindAccountAsync(IServiceProvider sp, string reference, CancellationToken ct) =>
    await sp.GetRequiredService<AccountService>().FindAsync(reference, ct)
    ?? throw new InvalidOperationException($"No account '{reference}'.");

static int Refuse(string message)
{
    Console.Error.WriteLine($"hepdb-admin: {message}");
    return 1;
}
