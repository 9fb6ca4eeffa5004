// The toolbar: run picker, layer picker, step slider, filter jump, token
// search and the copy-link button. Each part is rebuilt only when its options
// change, so dragging the slider never loses the element under the pointer.

import { stepLabel } from "../format.js";
import { clear, el } from "./dom.js";

const SLIDER_DELAY_MS = 90;
const SEARCH_DELAY_MS = 250;

/**
 * handlers: {onRuns(runs), onLayer(layer), onStep(step), onFilter(index),
 *            onSearch(token, partial), onCopyLink()}
 */
export function createControls(handlers) {
  const runList = el("div", { className: "run-list", attrs: { role: "group", "aria-label": "runs" } });
  const layerSelect = el("select", { className: "layer-select", attrs: { "aria-label": "layer" } });
  layerSelect.addEventListener("change", () => handlers.onLayer(layerSelect.value));
  const step = stepSlider(handlers.onStep);
  const filterJump = filterInput(handlers.onFilter);
  const search = searchBox(handlers.onSearch);
  const linkOutput = el("input", {
    className: "link-output",
    attrs: { type: "text", readonly: true, "aria-label": "link to this view", hidden: true },
  });
  const copyButton = el("button", {
    className: "copy-link",
    attrs: { type: "button" },
    text: "copy link",
    title: "copy a link that opens this view: runs, layer, step and filter",
    on: { click: () => handlers.onCopyLink() },
  });
  const root = el("div", { className: "controls" }, [
    field("runs", runList),
    field("layer", layerSelect),
    field("step", step.root),
    field("filter", filterJump.root),
    field("search token", search.root),
    el("div", { className: "field link-field" }, [copyButton, linkOutput]),
  ]);
  // Rebuilt only when they show something else: a poll with nothing new for
  // them must not close an open dropdown or take the focus off a checkbox.
  return {
    root,
    setRuns(allRuns, picked) {
      const boxes = [...runList.querySelectorAll("input[type=checkbox]")];
      const shown = boxes.length === allRuns.length
        && boxes.every((box, i) => box.value === allRuns[i] && box.checked === picked.includes(box.value));
      if (!shown) renderRunList(runList, allRuns, picked, handlers.onRuns);
    },
    setLayers(layers, chosen) {
      const options = [...layerSelect.options];
      if (options.length !== layers.length || options.some((option, i) => option.value !== layers[i])) {
        clear(layerSelect);
        for (const layer of layers) {
          layerSelect.appendChild(el("option", { attrs: { value: layer }, text: layer }));
        }
      }
      layerSelect.value = chosen ?? "";
      layerSelect.disabled = layers.length === 0;
    },
    setSteps: step.set,
    announceStep: step.announce,
    setSampling: step.setSampling,
    setFilterRange: filterJump.set,
    showLink(url, copied) {
      linkOutput.hidden = false;
      linkOutput.value = url;
      copyButton.textContent = copied ? "link copied" : "copy link";
      if (!copied) linkOutput.select();
    },
  };
}

function field(label, control) {
  return el("div", { className: "field" }, [el("span", { className: "field-label", text: label }), control]);
}

function renderRunList(container, allRuns, picked, onRuns) {
  clear(container);
  for (const run of allRuns) {
    const box = el("input", { attrs: { type: "checkbox", value: run, checked: picked.includes(run) } });
    box.addEventListener("change", () => {
      const boxes = [...container.querySelectorAll("input[type=checkbox]")];
      onRuns(boxes.filter((b) => b.checked).map((b) => b.value));
    });
    container.appendChild(el("label", { className: "run-option", title: run }, [box, el("span", { text: run })]));
  }
}

function stepSlider(onStep) {
  const slider = el("input", { className: "step-slider", attrs: { type: "range", min: 0, max: 0, step: 1, "aria-label": "step" } });
  const label = el("output", { className: "step-label" });
  const news = el("span", { className: "step-news", attrs: { "aria-live": "polite" } });
  const sampling = el("span", { className: "step-sampling" });
  const root = el("div", { className: "step-control" }, [slider, label, news, sampling]);
  let steps = [];
  let timer = null;
  let pending = null; // a step the slider was moved to, not yet passed to onStep
  const showLabel = () => {
    label.textContent = stepLabel(steps, Number(slider.value));
  };
  slider.addEventListener("input", () => {
    news.textContent = "";
    showLabel();
    clearTimeout(timer);
    pending = steps[Number(slider.value)];
    timer = setTimeout(() => {
      pending = null;
      onStep(steps[Number(slider.value)]);
    }, SLIDER_DELAY_MS);
  });
  return {
    root,
    set(newSteps, chosen) {
      steps = newSteps;
      // New steps arriving mid-drag keep the thumb on the step it was dragged to.
      const target = steps.includes(pending) ? pending : chosen;
      slider.max = String(Math.max(0, steps.length - 1));
      slider.value = String(Math.max(0, steps.indexOf(target)));
      slider.disabled = steps.length < 2;
      showLabel();
    },
    /** A quiet note beside the label, e.g. "new step 3"; cleared when the slider moves. */
    announce(text) {
      news.textContent = text;
    },
    /** Why fewer steps show than were written (TensorBoard's sampling), or "". */
    setSampling(text) {
      sampling.textContent = text;
    },
  };
}

function filterInput(onFilter) {
  const input = el("input", {
    className: "filter-jump",
    attrs: { type: "number", min: 0, step: 1, placeholder: "#", "aria-label": "go to filter" },
  });
  const go = () => {
    const index = Number(input.value);
    if (input.value !== "" && Number.isInteger(index) && index >= 0) onFilter(index);
  };
  input.addEventListener("change", go);
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") go(); });
  return {
    root: input,
    set(total, current) {
      input.max = String(Math.max(0, total - 1));
      input.placeholder = total ? `0–${total - 1}` : "#";
      input.value = current === null || current === undefined ? "" : String(current);
    },
  };
}

function searchBox(onSearch) {
  const input = el("input", {
    className: "search-input",
    attrs: { type: "search", placeholder: "e.g. <user>", "aria-label": "search a token", spellcheck: "false" },
  });
  const partial = el("input", { className: "search-partial", attrs: { type: "checkbox" } });
  let timer = null;
  const fire = (delay) => {
    clearTimeout(timer);
    timer = setTimeout(() => onSearch(input.value, partial.checked), delay);
  };
  input.addEventListener("input", () => fire(SEARCH_DELAY_MS));
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") fire(0); });
  partial.addEventListener("change", () => fire(0));
  const root = el("div", { className: "search-box" }, [
    input,
    el("label", { className: "search-mode", title: "match part of a token, ignoring case" }, [partial, el("span", { text: "partial" })]),
  ]);
  return { root };
}
