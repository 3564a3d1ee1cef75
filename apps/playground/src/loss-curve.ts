/** Draws the loss per step as a line over the run's steps, with the y axis from 0 to the largest loss. */
export function drawLossCurve(canvas: HTMLCanvasElement, losses: readonly number[], totalSteps: number): void {
  const context = canvas.getContext('2d')!;
  const { width, height } = canvas;
  const left = 44;
  const bottom = 22;
  context.clearRect(0, 0, width, height);
  context.fillStyle = '#fff';
  context.fillRect(0, 0, width, height);
  const top = Math.max(...losses.filter(Number.isFinite), 1e-6);
  context.strokeStyle = '#8c959f';
  context.fillStyle = '#57606a';
  context.font = '11px sans-serif';
  context.beginPath();
  context.moveTo(left, 6);
  context.lineTo(left, height - bottom);
  context.lineTo(width - 6, height - bottom);
  context.stroke();
  context.fillText(top.toFixed(2), 4, 14);
  context.fillText('0', 30, height - bottom);
  context.fillText(`step ${losses.length} / ${totalSteps}`, width - 110, height - 6);
  context.fillText('loss', 4, height / 2);
  const x = (step: number) => left + ((width - left - 8) * step) / Math.max(totalSteps - 1, 1);
  const y = (loss: number) => height - bottom - ((height - bottom - 8) * loss) / top;
  context.strokeStyle = '#0969da';
  context.lineWidth = 2;
  context.beginPath();
  losses.forEach((loss, step) => (step === 0 ? context.moveTo(x(step), y(loss)) : context.lineTo(x(step), y(loss))));
  context.stroke();
}
