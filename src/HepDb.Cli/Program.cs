// hepdb-admin: the operator's own tool on the host; the commands are in AdminTool.
return await HepDb.Cli.AdminTool.RunAsync(args, Console.Out, Console.Error, Console.In);
