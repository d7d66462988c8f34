"""The session lifecycle state machine, without a runtime."""

from __future__ import annotations

from xrclient.xr.lifecycle import Command, Lifecycle, SessionState

S = SessionState
C = Command


def _walk(lc: Lifecycle, *states: SessionState) -> list[Command]:
    out: list[Command] = []
    for s in states:
        out += lc.on_state(s)
    return out


def test_normal_start_runs_the_loop_and_gives_focus() -> None:
    lc = Lifecycle()
    assert not lc.frames_allowed
    assert _walk(lc, S.IDLE) == []
    assert lc.on_state(S.READY) == [C.BEGIN_SESSION]
    assert lc.frames_allowed and not lc.visible
    _walk(lc, S.SYNCHRONIZED, S.VISIBLE)
    assert lc.visible and not lc.focused
    lc.on_state(S.FOCUSED)
    assert lc.focused


def test_user_exit_goes_through_the_runtime() -> None:
    lc = Lifecycle()
    _walk(lc, S.IDLE, S.READY, S.SYNCHRONIZED, S.VISIBLE, S.FOCUSED)
    assert lc.request_exit() == [C.REQUEST_EXIT]
    assert lc.request_exit() == []  # asking twice does nothing more
    assert _walk(lc, S.VISIBLE, S.SYNCHRONIZED) == []
    assert lc.on_state(S.STOPPING) == [C.END_SESSION]
    assert not lc.frames_allowed
    assert lc.on_state(S.IDLE) == []
    assert lc.on_state(S.EXITING) == [C.DESTROY_SESSION, C.DESTROY_INSTANCE, C.QUIT]
    assert lc.done


def test_runtime_stops_the_session_then_restarts_it() -> None:
    lc = Lifecycle()
    _walk(lc, S.IDLE, S.READY, S.SYNCHRONIZED, S.VISIBLE)
    assert _walk(lc, S.SYNCHRONIZED, S.STOPPING) == [C.END_SESSION]
    assert lc.on_state(S.IDLE) == []
    assert lc.on_state(S.READY) == [C.BEGIN_SESSION]  # headset put back on
    assert lc.frames_allowed


def test_exit_before_the_session_runs_leaves_directly() -> None:
    lc = Lifecycle()
    lc.on_state(S.IDLE)
    assert lc.request_exit() == [C.DESTROY_SESSION, C.DESTROY_INSTANCE, C.QUIT]
    assert lc.on_state(S.READY) == []  # done: nothing more happens


def test_loss_pending_ends_destroys_and_recreates() -> None:
    lc = Lifecycle()
    _walk(lc, S.IDLE, S.READY, S.SYNCHRONIZED, S.VISIBLE, S.FOCUSED)
    assert lc.on_state(S.LOSS_PENDING) == [C.END_SESSION, C.DESTROY_SESSION, C.RECREATE_SESSION]
    assert not lc.frames_allowed and lc.recreations == 1 and not lc.done
    assert lc.state is S.UNKNOWN


def test_loss_pending_while_exiting_quits() -> None:
    lc = Lifecycle()
    _walk(lc, S.IDLE, S.READY)
    lc.request_exit()
    cmds = lc.on_state(S.LOSS_PENDING)
    assert cmds == [C.END_SESSION, C.DESTROY_SESSION, C.DESTROY_INSTANCE, C.QUIT]
    assert lc.done


def test_instance_loss_releases_everything() -> None:
    lc = Lifecycle()
    _walk(lc, S.IDLE, S.READY, S.SYNCHRONIZED)
    assert lc.on_instance_loss() == [
        C.END_SESSION,
        C.DESTROY_SESSION,
        C.DESTROY_INSTANCE,
        C.QUIT,
    ]
    assert "instance loss" in lc.reason
    assert lc.on_instance_loss() == []
    idle = Lifecycle()
    idle.on_state(S.IDLE)
    assert idle.on_instance_loss() == [C.DESTROY_SESSION, C.DESTROY_INSTANCE, C.QUIT]


def test_stopping_when_not_running_does_not_end_twice() -> None:
    lc = Lifecycle()
    assert lc.on_state(S.STOPPING) == []
    assert lc.history == [S.STOPPING]


def test_states_accept_raw_runtime_integers() -> None:
    lc = Lifecycle()
    assert lc.on_state(2) == [C.BEGIN_SESSION]
    assert lc.state is S.READY
