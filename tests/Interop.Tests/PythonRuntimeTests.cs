using Bridge.Interop;

namespace Interop.Tests;

public sealed class PythonRuntimeTests
{
    [Test]
    public void Runtime_reports_its_version()
    {
        Assert.That(PythonRuntime.IsInitialized, Is.True);
        Assert.That(PythonRuntime.Version.Major, Is.EqualTo(3));
        using var sys = Py.Import("sys");
        using var info = sys.GetAttr("version_info");
        Assert.That(info.GetItem<int>(1), Is.EqualTo(PythonRuntime.Version.Minor));
    }

    [Test]
    public void Initialize_again_is_a_no_op()
    {
        var before = PythonRuntime.Location;
        PythonRuntime.Initialize(new PythonOptions { LibraryPath = "/nonexistent.so" });
        Assert.That(PythonRuntime.Location, Is.SameAs(before));
    }

    [Test]
    public void A_process_already_running_python_is_detected_as_host()
    {
        // Now that libpython is loaded RTLD_GLOBAL and initialized, the process looks exactly like a Python
        // host that loaded .NET: Initialize would bind to its symbols instead of loading a second libpython.
        Assert.That(PythonRuntime.HostInterpreter(), Is.Not.EqualTo(IntPtr.Zero));
    }

    [Test]
    public void Sys_executable_is_the_real_interpreter()
    {
        using var sys = Py.Import("sys");
        var exe = sys.GetAttr("executable").As<string>();
        Assert.That(exe, Is.Not.Empty);
        Assert.That(exe, Does.Not.Contain("shims"));
        if (PythonRuntime.Location.Executable is { } probed) Assert.That(exe, Is.EqualTo(probed));
    }

    [Test]
    public void Venv_site_packages_are_importable_when_running_from_the_repo_venv()
    {
        var prefix = PythonRuntime.Location.Prefix ?? "";
        if (!prefix.EndsWith(".venv", StringComparison.Ordinal)) Assert.Ignore("Not embedded from the repository's venv.");
        using var sys = Py.Import("sys");
        var path = sys.GetAttr("path").As<List<string>>();
        Assert.That(path, Has.Some.StartsWith(prefix).And.EndsWith("site-packages"));
        using var dotbridge = Py.Import("dotbridge"); // editable install: found through the venv's .pth file
        Assert.That(dotbridge.GetAttr("__name__").As<string>(), Is.EqualTo("dotbridge"));
    }
}
