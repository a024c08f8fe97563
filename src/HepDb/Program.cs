using HepDb.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddHepDb();
var app = builder.Build();
app.MapHepDb();
app.Run();

/// <summary>Entry point, visible to the test host.</summary>
public partial class Program;
