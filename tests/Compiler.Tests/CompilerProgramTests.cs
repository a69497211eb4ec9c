using System.Diagnostics;
using System.Text.Json;

namespace Compiler.Tests;

/// <summary>The Bridge.Compiler command line, run as the Python side runs it.</summary>
public class CompilerProgramTests
{
    private static readonly string s_compilerDll = Path.Combine(AppContext.BaseDirectory, "Bridge.Compiler.dll");

    private static (int Exit, string Stdout, string Stderr) Run(string stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(s_compilerDll);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("Bridge.Compiler did not finish within 60 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "bridge-compiler-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Test]
    public void Success_writes_the_dll_and_metadata_and_prints_json()
    {
        var dir = TempDir();
        try
        {
            var dll = Path.Combine(dir, "sub", "k.dll");
            var meta = Path.Combine(dir, "sub", "k.json");
            var (exit, stdout, stderr) = Run("public static class K { public static int F() => 1; }",
                "--out", dll, "--meta", meta, "--name", "kprog");
            Assert.That(exit, Is.EqualTo(0), stderr);
            Assert.That(File.Exists(dll), Is.True);
            using var json = JsonDocument.Parse(stdout);
            Assert.That(json.RootElement.GetProperty("success").GetBoolean(), Is.True);
            var type = json.RootElement.GetProperty("types")[0];
            Assert.That(type.GetProperty("name").GetString(), Is.EqualTo("K"));
            Assert.That(File.ReadAllText(meta).Trim(), Is.EqualTo(stdout.Trim()));
            Assert.That(Directory.GetFiles(Path.Combine(dir, "sub"), "*.tmp"), Is.Empty);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Compile_errors_exit_1_with_diagnostics_and_write_nothing()
    {
        var dir = TempDir();
        try
        {
            var dll = Path.Combine(dir, "k.dll");
            const string source = "class A {\n  int F() { return 1 }\n}";
            var expected = Bridge.Compiler.KernelCompiler.Compile(source, [], "kerr").Diagnostics.Single();
            var (exit, stdout, _) = Run(source, "--out", dll);
            Assert.That(exit, Is.EqualTo(1));
            using var json = JsonDocument.Parse(stdout);
            var d = json.RootElement.GetProperty("diagnostics")[0];
            Assert.That(d.GetProperty("id").GetString(), Is.EqualTo("CS1002"));
            Assert.That(d.GetProperty("line").GetInt32(), Is.EqualTo(2));
            Assert.That(d.GetProperty("column").GetInt32(), Is.EqualTo(expected.Column));
            Assert.That(d.GetProperty("end_column").GetInt32(), Is.EqualTo(expected.EndColumn));
            Assert.That(File.Exists(dll), Is.False);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Usage_errors_exit_2()
    {
        Assert.That(Run("", "--bogus").Exit, Is.EqualTo(2));
        Assert.That(Run("").Exit, Is.EqualTo(2)); // --out missing
        Assert.That(Run("class A {}", "--out", "/tmp/x.dll", "--reference", "/nonexistent/r.dll").Exit, Is.EqualTo(2));
    }
}
