"""parse_action: every WebRL action form, and malformed model outputs rejected with a reason."""
import pytest

from env import Action, parse_action


@pytest.mark.parametrize("text, expected", [
    ('do(action="Click", element="12")', Action("Click", "12")),
    ('do(action="Right Click", element="3")', Action("Right Click", "3")),
    ('do(action="Hover", element="0")', Action("Hover", "0")),
    ('do(action="Type", argument="01/01/2023", element="22")', Action("Type", "22", "01/01/2023")),
    ('do(action="Search", argument="red shoes", element="5")', Action("Search", "5", "red shoes")),
    ('do(action="Select Dropdown Option", argument="Month", element="20")', Action("Select Dropdown Option", "20", "Month")),
    ('do(action="Press Enter")', Action("Press Enter")),
    ('do(action="Scroll Up")', Action("Scroll Up")),
    ('do(action="Scroll Down")', Action("Scroll Down")),
    ('do(action="Wait")', Action("Wait")),
    ('do(action="Switch Tab", argument="1")', Action("Switch Tab", None, "1")),
    ('go_backward()', Action("Go Backward")),
    ('go_forward()', Action("Go Forward")),
    ('do(action="Go Backward")', Action("Go Backward")),
    ('exit(message="The top-3 best-selling products are: 1")', Action("exit", None, "The top-3 best-selling products are: 1")),
    ('exit(message="")', Action("exit", None, "")),
    ('exit()', Action("exit", None, "")),
    # comment lines as WebRL's responses carry them
    ("# Element: the 'REPORTS' section on the left sidebar\ndo(action=\"Click\", element=\"7\")", Action("Click", "7")),
    ("# Note: Pittsburgh International Airport, 15231\n# Element: The field\ndo(action=\"Type\", argument=\"Cleveland\", element=\"14\")",
     Action("Type", "14", "Cleveland")),
    # tolerated variations: single quotes, int element, case of the action name, whitespace
    ("do(action='click', element=7)", Action("Click", "7")),
    ('  do( action = "Scroll Down" )  \n', Action("Scroll Down")),
    ('do(element="4", action="Click")', Action("Click", "4")),
    ('do(action="Type", argument="say \\"hi\\"", element="2")', Action("Type", "2", 'say "hi"')),
    ('do(action="Type", argument="", element="2")', Action("Type", "2", "")),
    ('exit(message="Line one\\nline two")', Action("exit", None, "Line one\nline two")),
    ("```\ndo(action=\"Click\", element=\"1\")\n```", Action("Click", "1")),
])
def test_parses_every_form(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n  ", "empty"),
    ("# Element: the search bar", "only comments"),
    ("Click on the search bar", "not a single Python call"),
    ('do(action="Click", element="12"', "not a single Python call"),
    ('do(action="Click", element="12"))', "not a single Python call"),
    ('do(action="Click", element="1")\ndo(action="Click", element="2")', "not a single Python call"),
    ('click(element="3")', "unknown function"),
    ('os.system("rm -rf /")', "not a call of do/exit"),
    ('__import__("os").system("ls")', "not a call of do/exit"),
    ('do("Click", "3")', "keyword arguments only"),
    ('exit("done")', "keyword arguments only"),
    ('do(action="Fly", element="3")', "unknown action"),
    ('do(action=None, element="3")', "unknown action"),
    ('do(element="3")', "unknown action"),
    ('do(action="Click")', "needs element"),
    ('do(action="Click", element="abc")', "numeric id"),
    ('do(action="Click", element="-1")', "numeric id"),
    ('do(action="Click", element="")', "numeric id"),
    ('do(action="Click", element=True)', "numeric id"),
    ('do(action="Click", element=[1])', "numeric id"),
    ('do(action="Type", element="3")', "needs argument"),
    ('do(action="Search", element="3")', "needs argument"),
    ('do(action="Select Dropdown Option", element="3")', "needs argument"),
    ('do(action="Type", argument=["a"], element="3")', "needs argument"),
    ('do(action="Switch Tab")', "needs argument"),
    ('do(action="Switch Tab", argument="next")', "tab number"),
    ('do(action="Click", element="3", foo="bar")', "unknown arguments"),
    ('do(action="Click", element=open("/etc/passwd").read())', "must be a literal"),
    ('do(action="Type", argument=x, element="1")', "must be a literal"),
    ('do(action="Type", argument="a" + "b", element="1")', "must be a literal"),
    ('exit(message="x", extra=1)', "only message"),
    ('go_backward(1)', "keyword arguments only"),
    ('go_forward(steps=2)', "takes no arguments"),
    ('do(**{"action": "Click"})', r"\*\*kwargs"),
    ('lambda: 0', "not a call"),
    ('[do(action="Click", element="1")]', "not a call"),
    ('do.x(action="Click")', "not a call"),
])
def test_rejects_malformed_output_with_a_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_action(text)


def test_rejects_non_strings():
    with pytest.raises(ValueError, match="must be a string"):
        parse_action(None)


def test_round_trips_through_str():
    for a in [Action("Click", "3"), Action("Type", "2", 'x "y"'), Action("exit", None, "done"), Action("Go Forward"),
              Action("Switch Tab", None, "1"), Action("Scroll Down")]:
        assert parse_action(str(a)) == a
